import { Writable } from 'node:stream';
import { createLogger, errorForLog } from './logger';

function capture(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(...chunk.toString().split('\n').filter(Boolean)), cb()) }));
  return { lines, logger };
}

describe('errors in the log', () => {
  it('keep type, code, message, stack frames and cause, and drop the properties that may carry patient data', () => {
    const { lines, logger } = capture();
    const cause = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505', detail: 'Key (patient)=(il6cds-patient-LEAK-1) already exists.' });
    const err = Object.assign(new TypeError('Cannot read properties of undefined', { cause }), { body: '{"context":{"patientId":"il6cds-patient-LEAK-2"}}', status: 500 });
    logger.error({ err, requestId: 'r1' }, 'internal error');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line.err).toMatchObject({ type: 'TypeError', message: 'Cannot read properties of undefined', cause: { type: 'Error', code: '23505', message: 'duplicate key value violates unique constraint' } });
    expect(line.err.stack).toMatch(/^\s+at .*logger\.test/);
    expect(lines[0]).not.toMatch(/LEAK/);
    expect(Object.keys(line.err).sort()).toEqual(['cause', 'message', 'stack', 'type']);
  });

  it('cut long messages and describe thrown non-errors', () => {
    expect((errorForLog(new Error('x'.repeat(2000))).message as string).length).toBe(500);
    expect(errorForLog('a string')).toEqual({ type: 'string', message: 'a string' });
    let deep: Error = new Error('root');
    for (let i = 0; i < 10; i++) deep = new Error(`level ${i}`, { cause: deep });
    let depth = 0;
    for (let e = errorForLog(deep); e.cause; e = e.cause as Record<string, unknown>) depth++;
    expect(depth).toBe(3);
  });
});
