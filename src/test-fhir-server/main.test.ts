import { parseArgs } from './main';

describe('test FHIR server main: arguments', () => {
  it('defaults to 127.0.0.1:8081 without a token', () => {
    expect(parseArgs([], {})).toEqual({ port: 8081, host: '127.0.0.1' });
  });

  it('takes PORT, HOST and FHIR_REQUIRE_TOKEN from the environment', () => {
    expect(parseArgs([], { PORT: '9000', HOST: '0.0.0.0', FHIR_REQUIRE_TOKEN: 't' })).toEqual({
      port: 9000,
      host: '0.0.0.0',
      requireToken: 't',
    });
  });

  it('prefers flags, in both --flag value and --flag=value form', () => {
    expect(parseArgs(['--port', '0', '--host=::1', '--require-token=abc'], { PORT: '9000' })).toEqual({
      port: 0,
      host: '::1',
      requireToken: 'abc',
    });
  });

  it('rejects unknown arguments, missing values and bad ports', () => {
    expect(() => parseArgs(['--verbose'], {})).toThrow(/Unknown argument/);
    expect(() => parseArgs(['--port'], {})).toThrow(/needs a value/);
    expect(() => parseArgs(['--port', '70000'], {})).toThrow(/Invalid port/);
    expect(() => parseArgs([], { PORT: 'abc' })).toThrow(/Invalid port/);
  });
});
