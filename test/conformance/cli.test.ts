/**
 * The compiled command end to end, as a user runs it (`node bin/il6-cds.js conformance …`, i.e. `npx il6-cds
 * conformance`) against the project's service in its default set-up: client authentication required, no
 * TRUSTED_ISSUERS_FILE, so the suite's default key — the local development issuer — is trusted.
 *
 * `npm install` builds `dist/`; in a dev checkout whose `dist/` is older than the sources it is rebuilt first
 * (test/ops/support.ts `ensureBuilt`), and if that build fails the tests are skipped with the reason printed.
 */
import type { ConformanceReport } from '../../src/conformance';
import type { RunningServer } from '../../src/server';
import { CLI_JS, ensureBuilt, runNode } from '../ops/support';
import { startTestService } from '../support/service';

let server: RunningServer;
let unbuilt: string | undefined;

beforeAll(async () => {
  try {
    ensureBuilt();
  } catch (err) {
    unbuilt = (err as Error).message.split('\n')[0];
    process.stdout.write(`SKIPPED test/conformance/cli.test.ts: dist/ is stale and could not be rebuilt (${unbuilt})\n`);
    return;
  }
  server = await startTestService({ config: { auth: 'required' } });
}, 300_000);

afterAll(async () => {
  await server?.close();
});

it('il6-cds conformance --json: a machine-readable report, no FAIL, exit code 0', async () => {
  if (unbuilt) return;
  const run = await runNode([CLI_JS, 'conformance', '--url', `${server.url}/cds-services`, '--json', '--latency-calls', '5'], { timeoutMs: 90_000 });
  expect(run.stderr).toBe('');
  const report = JSON.parse(run.stdout) as ConformanceReport;
  expect(report.results).toHaveLength(59);
  const failed = report.results.filter((r) => r.status === 'FAIL');
  expect(failed.map((r) => `${r.item}: ${r.details.join(' | ')}`)).toEqual([]);
  // The development issuer's single ES384 key: item 48 says RS384 went unchecked.
  expect(report.results.find((r) => r.item === 48)!.notes.join(' ')).toMatch(/RS384 not checked/);
  expect(report.exitCode).toBe(0);
  expect(run.code).toBe(0);
}, 120_000);

it('il6-cds conformance prints one line per item, and exits 1 when an [S] item fails, 2 on bad options', async () => {
  if (unbuilt) return;
  const text = await runNode([CLI_JS, 'conformance', '--url', `${server.url}/cds-services`, '--only', '1-3,45-47']);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/^ {2}1 \[S\] PASS {2}GET \/cds-services answers 200 with a JSON object$/m);
  expect(text.stdout).toMatch(/^ 47 \[S\] PASS {2}an HS256-signed JWT answers 401$/m);
  expect(text.stdout).toMatch(/^6 PASS, 0 FAIL, 0 SKIP/m);

  // A service that checks audiences against another public URL refuses the suite's tokens: item 1 FAILs.
  const elsewhere = await runNode([CLI_JS, 'conformance', '--url', `${server.url}/cds-services`, '--aud-base', 'https://elsewhere.example', '--only', '1']);
  expect(elsewhere.code).toBe(1);
  expect(elsewhere.stdout).toMatch(/ 1 \[S\] FAIL/);
  expect(elsewhere.stdout).toMatch(/saw: GET .* → HTTP 401/);

  const bad = await runNode([CLI_JS, 'conformance', '--url', `${server.url}/cds-services`, '--only', '60']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/--only: item 60 is not on the checklist/);

  const help = await runNode([CLI_JS, 'conformance', '--help']);
  expect(help.stdout).toMatch(/FAILs of \[R\] and \[I\] items are printed but do not\s+change the exit code/);
}, 120_000);
