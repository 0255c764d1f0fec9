/**
 * `il6-cds load`: uploads the synthetic patients of `fhir-fixtures/` to a FHIR R4 server (the public HAPI
 * sandbox by default), one transaction Bundle per patient, with every date rebased to now. Entries are PUTs
 * with the fixtures' stable ids, so running it again updates the same resources instead of adding copies;
 * `--prefix` makes the ids personal on a shared server. Prints the patient ids, ready for `il6-cds fire`.
 */
import type { Bundle } from 'fhir/r4';
import type { Command } from 'commander';
import { FIXTURES_DIR, listFixtures, type Fixture } from '../../fixtures/catalog';
import { rebase } from '../../fixtures/rebase';
import { checkPrefix, prefixedId, withPrefix } from './fixture-ids';
import { baseUrl, CliError, describeBody, mapLimit, networkProblem, processIo, type CliIo } from './io';

/** The public HAPI FHIR R4 server: anyone can read and write it, so load only synthetic data there. */
export const HAPI_SANDBOX = 'https://hapi.fhir.org/baseR4';

export interface LoadOptions {
  /** FHIR R4 base URL. */
  fhir: string;
  /** Bearer token for the FHIR server. */
  token?: string;
  /** Makes every id `<prefix>-<id>` (see fixture-ids.ts). */
  prefix?: string;
  /** Fixture slugs to load (default all). */
  only?: string[];
  /** Transactions at a time (default 4). */
  concurrency?: number;
  /** Wait up to this long for `GET <base>/metadata` to answer before loading (a server still starting). */
  waitSeconds?: number;
  /** Print the result as JSON. */
  json?: boolean;
  /** Per request (default 60 s: the public sandbox can be slow). */
  timeoutMs?: number;
  fixturesDir?: string;
  /** The "now" dates are rebased to (default: the time of the run). */
  now?: Date;
}

export interface LoadedPatient {
  slug: string;
  patientId: string;
  title: string;
  profile: string;
  findings: string[];
  resources: number;
}

export interface LoadResult {
  fhir: string;
  prefix?: string;
  rebasedTo: string;
  patients: LoadedPatient[];
  resources: number;
  created: number;
  updated: number;
}

const RETRY_STATUS = new Set([429, 502, 503, 504]);

export async function runLoad(opts: LoadOptions, io: CliIo = processIo): Promise<LoadResult> {
  const base = baseUrl(opts.fhir, '--fhir');
  if (opts.prefix !== undefined) checkPrefix(opts.prefix);
  const fixtures = selectFixtures(listFixtures(opts.fixturesDir ?? FIXTURES_DIR), opts.only);
  const now = opts.now ?? new Date();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  if (opts.waitSeconds) await waitForServer(base, opts.waitSeconds, opts.token, io);

  let created = 0;
  let updated = 0;
  const patients = await mapLimit(fixtures, opts.concurrency ?? 4, async (f) => {
    const bundle = withPrefix(rebase(f.bundle, now), opts.prefix);
    const reply = await postTransaction(base, bundle, f.slug, opts.token, timeoutMs);
    for (const e of reply.entry ?? []) {
      if (e.response?.status?.startsWith('201')) created++;
      else updated++;
    }
    return {
      slug: f.slug,
      patientId: prefixedId(f.expected.patient, opts.prefix),
      title: f.expected.title,
      profile: f.expected.profile ?? 'default',
      findings: f.expected.findings,
      resources: bundle.entry?.length ?? 0,
    } satisfies LoadedPatient;
  });
  const result: LoadResult = {
    fhir: base,
    ...(opts.prefix ? { prefix: opts.prefix } : {}),
    rebasedTo: now.toISOString(),
    patients,
    resources: patients.reduce((n, p) => n + p.resources, 0),
    created,
    updated,
  };
  if (opts.json) io.out(JSON.stringify(result, null, 2));
  else printLoad(result, io);
  return result;
}

function selectFixtures(all: Fixture[], only: string[] | undefined): Fixture[] {
  if (!only || only.length === 0) return all;
  const bySlug = new Map(all.map((f) => [f.slug, f]));
  const unknown = only.filter((s) => !bySlug.has(s));
  if (unknown.length > 0) {
    const hints = unknown.map((u) => {
      const near = all.filter((f) => f.slug.includes(u) || u.includes(f.slug)).slice(0, 3);
      return near.length ? `${u} (did you mean ${near.map((f) => f.slug).join(', ')}?)` : u;
    });
    throw new CliError(`--only: no fixture named ${hints.join('; ')}. The fixtures are listed in fhir-fixtures/README.md.`);
  }
  return [...new Set(only)].map((s) => bySlug.get(s)!);
}

async function postTransaction(base: string, bundle: Bundle, slug: string, token: string | undefined, timeoutMs: number): Promise<Bundle> {
  const headers: Record<string, string> = { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const body = JSON.stringify(bundle);
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(base, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      // PUT entries make a retry safe even if the first attempt was applied.
      if (attempt < 3) {
        await sleep(1000 * attempt);
        continue;
      }
      throw new CliError(`${slug}: cannot reach the FHIR server: ${networkProblem(err, base)}`);
    }
    const text = await res.text();
    if (res.ok) {
      try {
        const reply = JSON.parse(text) as Bundle;
        if (reply.resourceType === 'Bundle') return reply;
      } catch {
        // fall through
      }
      throw new CliError(`${slug}: the FHIR server answered ${res.status} without a transaction-response Bundle`);
    }
    if (RETRY_STATUS.has(res.status) && attempt < 3) {
      await sleep(1000 * attempt);
      continue;
    }
    const hint = res.status === 401 || res.status === 403 ? ' (does it need --token?)' : '';
    throw new CliError(`${slug}: the FHIR server refused the transaction: HTTP ${res.status}${hint}: ${describeBody(text)}`);
  }
}

async function waitForServer(base: string, seconds: number, token: string | undefined, io: CliIo): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let last = '';
  let told = false;
  for (;;) {
    try {
      const res = await fetch(`${base}/metadata`, {
        headers: { accept: 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        signal: AbortSignal.timeout(10_000),
      });
      await res.body?.cancel();
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = networkProblem(err, base);
    }
    if (Date.now() >= deadline) throw new CliError(`the FHIR server at ${base} did not answer GET /metadata within ${seconds} s (last: ${last})`);
    if (!told) {
      io.err(`waiting for the FHIR server at ${base} (up to ${seconds} s)…`);
      told = true;
    }
    await sleep(2000);
  }
}

function printLoad(r: LoadResult, io: CliIo): void {
  io.out(
    `Loaded ${r.patients.length} fixture patient${r.patients.length === 1 ? '' : 's'} into ${r.fhir}: ${r.resources} resources ` +
      `(${r.created} created, ${r.updated} updated), dates rebased to ${r.rebasedTo.slice(0, 10)}.`,
  );
  const width = Math.max(10, ...r.patients.map((p) => p.patientId.length));
  io.out('');
  io.out(`${'patient id'.padEnd(width)}  expected findings`);
  for (const p of r.patients) {
    const findings = p.findings.length ? p.findings.join(', ') : '(no cards)';
    io.out(`${p.patientId.padEnd(width)}  ${findings}${p.profile !== 'default' ? `  [RULES_PROFILE=${p.profile}]` : ''}`);
  }
  const first = r.patients[0];
  if (first) io.out(`\nNext: il6-cds fire --patient ${first.patientId} --fhir ${r.fhir}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface LoadFlags {
  fhir: string;
  token?: string;
  prefix?: string;
  only?: string[];
  concurrency: string;
  wait?: string;
  json?: boolean;
}

export function registerLoad(program: Command): void {
  program
    .command('load')
    .description('upload the fhir-fixtures/ patients to a FHIR R4 server (transaction Bundles, PUT with stable ids, dates rebased to now) and print their ids')
    .option('--fhir <base>', 'FHIR R4 base URL', HAPI_SANDBOX)
    .option('--token <token>', 'Bearer token for the FHIR server')
    .option('--prefix <prefix>', 'prefix every id and reference with "<prefix>-" (your own copy on a shared server)')
    .option('--only <slug...>', 'load only these fixtures (slugs as in fhir-fixtures/)')
    .option('--concurrency <n>', 'transactions at a time', '4')
    .option('--wait <seconds>', 'wait up to this long for the FHIR server to answer GET /metadata first')
    .option('--json', 'print the result as JSON')
    .action(async (flags: LoadFlags) => {
      const concurrency = Number(flags.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) throw new CliError(`--concurrency "${flags.concurrency}": a whole number from 1 to 32`);
      const waitSeconds = flags.wait === undefined ? undefined : Number(flags.wait);
      if (waitSeconds !== undefined && !(waitSeconds >= 0)) throw new CliError(`--wait "${flags.wait}": a number of seconds`);
      await runLoad({ fhir: flags.fhir, token: flags.token, prefix: flags.prefix, only: flags.only, concurrency, waitSeconds, json: flags.json });
    });
}
