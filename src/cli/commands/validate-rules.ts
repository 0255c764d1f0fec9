/**
 * `il6-cds validate-rules [paths…]`: the start-up checks of rule files without starting the service. A path
 * is a rule file (`*.yaml`), a service folder (`discovery.json` + `rules.yaml`) or a folder of service folders;
 * default: the configured CDS_SERVICES_DIR. Every problem of every file is printed as `file: rule: reason` on
 * stderr and the command exits 1; all good prints one line per service and exits 0.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config';
import type { RuleFileError } from '../../engine/load';
import type { RuleSet } from '../../engine/model';
import { CliError, processIo, type CliIo } from './io';

export interface RuleCheck {
  /** What was checked: a rule file or a service folder (relative to the working directory). */
  path: string;
  ok: boolean;
  id?: string;
  version?: string;
  profiles?: string[];
  findings?: number;
  /** When not ok: where and why (the first problem; `problems` lists them all, this one first). */
  file?: string;
  rule?: string;
  reason?: string;
  problems?: { rule: string; reason: string }[];
}

export interface ValidateOptions {
  paths?: string[];
  json?: boolean;
}

export interface ValidateResult {
  ok: boolean;
  checks: RuleCheck[];
}

export async function runValidateRules(opts: ValidateOptions, io: CliIo = processIo): Promise<ValidateResult> {
  // Loaded here, not at start-up of every CLI command: the FHIRPath engine takes a second to load.
  const engine = { ...(await import('../../engine/load')), ...(await import('../../services/registry')) };
  const targets = opts.paths?.length ? opts.paths.map((p) => path.resolve(p)) : [defaultServicesDir()];
  const checks: RuleCheck[] = [];
  for (const target of targets) {
    if (!existsSync(target)) {
      checks.push({ path: rel(target), ok: false, file: rel(target), rule: '(path)', reason: 'does not exist' });
      continue;
    }
    if (statSync(target).isFile()) {
      checks.push(checkRuleFile(target, engine));
      continue;
    }
    if (isServiceFolder(target)) {
      checks.push(checkServiceFolder(target, engine));
      continue;
    }
    const folders = readdirSync(target)
      .sort()
      .map((name) => path.join(target, name))
      .filter((p) => statSync(p).isDirectory());
    if (folders.length === 0) checks.push({ path: rel(target), ok: false, file: rel(target), rule: '(directory)', reason: 'holds no service folder (discovery.json + rules.yaml) and no rule file' });
    for (const folder of folders) checks.push(checkServiceFolder(folder, engine));
  }
  const result = { ok: checks.every((c) => c.ok), checks };
  if (opts.json) io.out(JSON.stringify(result, null, 2));
  else {
    for (const c of checks) {
      if (c.ok) io.out(`ok    ${c.path}  (${c.id} ${c.version}; profiles ${c.profiles!.join(', ')}; ${c.findings} findings)`);
      else for (const p of c.problems ?? [c]) io.err(`${c.file}: ${p.rule}: ${p.reason}`);
    }
    const bad = checks.filter((c) => !c.ok).length;
    if (bad > 0) io.err(`${bad} of ${checks.length} failed.`);
  }
  return result;
}

function defaultServicesDir(): string {
  try {
    return loadConfig(process.env).servicesDir;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`configuration error: ${err.message}`, 2);
    throw err;
  }
}

function isServiceFolder(dir: string): boolean {
  return existsSync(path.join(dir, 'rules.yaml')) || existsSync(path.join(dir, 'discovery.json'));
}

type Engine = typeof import('../../engine/load') & typeof import('../../services/registry');

function checkRuleFile(file: string, { loadRuleFile, RuleFileError }: Engine): RuleCheck {
  try {
    return ok(rel(file), loadRuleFile(file));
  } catch (err) {
    if (err instanceof RuleFileError) return failed(file, err);
    throw err;
  }
}

function checkServiceFolder(dir: string, { loadService, ServiceLoadError }: Engine): RuleCheck {
  try {
    return ok(rel(dir), loadService(dir, path.basename(dir), { profile: 'default' }).ruleSet);
  } catch (err) {
    if (err instanceof ServiceLoadError) return failed(dir, err);
    throw err;
  }
}

function failed(checked: string, err: RuleFileError): RuleCheck {
  return { path: rel(checked), ok: false, file: rel(err.file), rule: err.rule, reason: err.reason, problems: [...err.problems] };
}

function ok(p: string, rs: RuleSet): RuleCheck {
  return { path: p, ok: true, id: rs.id, version: rs.version, profiles: Object.keys(rs.profiles), findings: rs.def.findings.length };
}

function rel(p: string): string {
  const r = path.relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
}

export function registerValidateRules(program: Command): void {
  program
    .command('validate-rules')
    .description('check rule files like start-up does (schema, references, FHIRPath) and exit 1 with file: rule: reason for each problem')
    .argument('[paths...]', 'rule files, service folders or folders of services (default: CDS_SERVICES_DIR)')
    .option('--json', 'print the result as JSON')
    .action(async (paths: string[], flags: { json?: boolean }) => {
      const result = await runValidateRules({ paths, json: flags.json });
      if (!result.ok) process.exitCode = 1;
    });
}
