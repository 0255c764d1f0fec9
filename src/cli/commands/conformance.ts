/**
 * `il6-cds conformance`: runs the CDS Hooks 2.0 conformance checklist (items 1–59 of the project's CDS Hooks
 * digest) as black-box HTTP checks against any patient-view CDS service, this one or another, and prints one line
 * per item (PASS/FAIL/SKIP, and on failure what it saw) or, with `--json`, the whole report.
 *
 * Exit code: 0 when no [S] item failed, 1 when one did, 2 for bad options or when the suite itself could not run
 * a check. FAILs of [R] and [I] items are printed but do not change the exit code.
 */
import type { Command } from 'commander';
import type { ConformanceOptions } from '../../conformance';
import { CliError, processIo, type CliIo } from './io';

interface ConformanceFlags {
  url: string;
  service?: string[];
  fhir?: string;
  fhirToken?: string;
  patient?: string[];
  key?: string;
  iss?: string;
  kid?: string;
  jku?: string;
  audBase?: string;
  only?: string;
  fhirHost: string;
  fhirPort: string;
  latencyCalls: string;
  latencyBudget: string;
  timeout: string;
  user?: string;
  json?: boolean;
}

const HELP_AFTER = `
Items are tagged as in the checklist: [S] the spec's SHALL/MUST, [R] SHOULD or best practice, [I] the
project's choice where the spec is silent. Exit code: 0 when no [S] item FAILed, 1 when one did, 2 for bad
options or when the suite itself could not run a check. FAILs of [R] and [I] items are printed but do not
change the exit code. A SKIP says why: the target does not offer what the check needs (feedback, JWT
authentication, https), or a prerequisite failed.

Tokens: without --key the suite signs as the local development issuer (.local/dev-issuer/), which this
project's service trusts in development and test mode. For another service, give a private JWK (or a JWKS
with one key per algorithm, e.g. ES384 and RS384) that it trusts, with --iss.

Examples:
  il6-cds conformance --url http://localhost:8080/cds-services
  il6-cds conformance --url https://cds.example.org/cds-services --key ehr-private.jwks.json --iss https://ehr.example.org --json
  il6-cds conformance --url http://10.0.0.5:8080/cds-services --aud-base https://cds.example.org --only 45-56`;

const collect = (value: string, previous: string[] = []) => [...previous, value];

export async function runConformanceCommand(flags: ConformanceFlags, io: CliIo = processIo): Promise<number> {
  // Loaded only when this command runs: the suite brings the in-memory FHIR server and jose, which every other
  // `il6-cds` command would otherwise pay for at start-up.
  const { formatJson, formatText, parseItemList, runConformance } = await import('../../conformance');
  const int = (v: string, name: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new CliError(`${name} "${v}" is not a whole number`, 2);
    return n;
  };
  let only: number[] | undefined;
  try {
    only = flags.only ? parseItemList(flags.only) : undefined;
  } catch (err) {
    throw new CliError(`--only: ${(err as Error).message}`, 2);
  }
  const opts: ConformanceOptions = {
    url: flags.url,
    ...(flags.service?.length ? { services: flags.service } : {}),
    ...(flags.fhir ? { fhir: flags.fhir } : {}),
    ...(flags.fhirToken ? { fhirToken: flags.fhirToken } : {}),
    ...(flags.patient?.length ? { patients: flags.patient } : {}),
    ...(flags.key ? { keyFile: flags.key } : {}),
    ...(flags.iss ? { iss: flags.iss } : {}),
    ...(flags.kid ? { kid: flags.kid } : {}),
    ...(flags.jku ? { jku: flags.jku } : {}),
    ...(flags.audBase ? { audBase: flags.audBase } : {}),
    ...(only ? { only } : {}),
    ...(flags.user ? { userId: flags.user } : {}),
    fhirHost: flags.fhirHost,
    fhirPort: int(flags.fhirPort, '--fhir-port'),
    latencyCalls: int(flags.latencyCalls, '--latency-calls'),
    latencyBudgetMs: int(flags.latencyBudget, '--latency-budget'),
    timeoutMs: int(flags.timeout, '--timeout') * 1000,
  };
  let report;
  try {
    report = await runConformance(opts);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), 2);
  }
  io.out(flags.json ? formatJson(report) : formatText(report, { color: io.isTty }));
  return report.exitCode;
}

export function registerConformance(program: Command): void {
  program
    .command('conformance')
    .description('run the CDS Hooks 2.0 conformance checklist (items 1–59) as black-box HTTP checks against a patient-view CDS service')
    .requiredOption('--url <discovery>', 'the discovery URL of the service under test, <base>/cds-services')
    .option('--service <id>', 'a service id to test (repeatable; default: every patient-view service discovery lists)', collect)
    .option('--fhir <base>', 'a FHIR R4 server holding the patients (default: start an in-memory one and load fixture patients)')
    .option('--patient <id>', 'a patient id on --fhir (repeatable; required with --fhir)', collect)
    .option('--fhir-token <token>', 'access token for reading --fhir')
    .option('--key <jwk>', 'private JWK, or JWKS of private keys, the target trusts (default: the local development issuer)')
    .option('--iss <iss>', 'the issuer the target trusts --key for')
    .option('--kid <kid>', 'key id, when the JWK has none')
    .option('--jku <url>', "a jku header for every token (the issuer's allowlisted JWKS URL)")
    .option('--aud-base <base>', "the target's public base URL, when --url reaches it by another address (JWT aud)")
    .option('--only <items>', 'run only these items, e.g. 1-12,25,46')
    .option('--fhir-host <host>', "interface of the suite's FHIR server (the target is given it as fhirServer)", '127.0.0.1')
    .option('--fhir-port <port>', "port of the suite's FHIR server (0: any free port); fix it to allowlist it at the target", '0')
    .option('--latency-calls <n>', 'calls timed for item 24', '20')
    .option('--latency-budget <ms>', "item 24's p95 budget", '500')
    .option('--timeout <seconds>', 'per HTTP request', '15')
    .option('--user <ref>', 'context.userId', 'Practitioner/conformance-1')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: ConformanceFlags) => {
      process.exitCode = await runConformanceCommand(flags);
    });
}
