/**
 * Support for the operations tests: the compiled program (built when `dist/` is older than the sources —
 * `npm install` builds it, this catches edits since), captured CLI output for in-process command runs,
 * child processes, and reading the Prometheus text format.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CliIo } from '../../src/cli/commands/io';

export const ROOT = path.resolve(__dirname, '../..');
export const MAIN_JS = path.join(ROOT, 'dist', 'src', 'main.js');
export const CLI_JS = path.join(ROOT, 'bin', 'il6-cds.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'generated') newest = Math.max(newest, newestSource(p));
    } else if (/\.(ts|json)$/.test(entry.name) && !entry.name.endsWith('.test.ts')) {
      newest = Math.max(newest, statSync(p).mtimeMs);
    }
  }
  return newest;
}

/** Builds `dist/` (`npm run build`, one build at a time across jest workers) unless it is newer than `src/`. */
export function ensureBuilt(): void {
  const newest = newestSource(path.join(ROOT, 'src'));
  if (existsSync(MAIN_JS) && statSync(MAIN_JS).mtimeMs >= newest) return;
  // Under the lock, check again: another worker may have just built it.
  const check = `const fs=require('fs');const f=${JSON.stringify(MAIN_JS)};process.exit(fs.existsSync(f)&&fs.statSync(f).mtimeMs>=${newest}?0:1)`;
  try {
    execFileSync('flock', [path.join(os.tmpdir(), 'il6-cds-build.lock'), 'sh', '-c', `"${process.execPath}" -e "$0" || npm run build`, check], { cwd: ROOT, stdio: 'pipe', timeout: 300_000 });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`npm run build failed:\n${String(e.stdout ?? '')}${String(e.stderr ?? '')}`.slice(0, 4000));
  }
}

export interface CapturedIo extends CliIo {
  stdout: string[];
  stderr: string[];
  readonly text: string;
}

/** A CliIo that keeps what a command prints. */
export function captureIo(): CapturedIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    isTty: false,
    get text() {
      return stdout.join('\n');
    },
  };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a node script to completion (the real compiled program), with a time limit. */
export function runNode(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...baseEnv(), ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The environment for child processes: this one without settings of the service that could leak in. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(PORT|HOST|NODE_ENV|AUTH|LOG_LEVEL|DATABASE_|DATA_DIR|REDIS_URL|IL6_CDS_CONFIG|CDS_SERVICES_DIR|RULES_PROFILE|METRICS|PREVIEW|PUBLIC_BASE_URL|TRUSTED_ISSUERS_FILE)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

export interface ServiceProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  port: number;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node dist/src/main.js` with `env` and waits for its "listening" log line. */
export async function startServiceProcess(env: Record<string, string>, timeoutMs = 20_000): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [MAIN_JS], {
    cwd: ROOT,
    env: { ...baseEnv(), NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffer = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'il6-cds listening') {
            clearTimeout(timer);
            resolve(entry.port as number);
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`the service exited (${code}) before listening: ${stderr}`));
    });
  });
  return { child, url: `http://127.0.0.1:${port}`, port, logs, stderr: () => stderr, exited };
}

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** How the process exited, or a rejection naming `after` when it is still running `ms` later. */
export async function exitWithin(svc: ServiceProcess, ms: number, after: string): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms of ${after}`)), ms)));
  try {
    return await Promise.race([svc.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * For a test file that starts compiled services (`AUTH=disabled`) in a temporary folder: builds `dist/` first;
 * after all tests, kills any still running and removes the folder. `start` takes the service's `DATA_DIR`
 * (below that folder) and more environment.
 */
export function serviceProcesses(prefix: string): { start(dataDir: string, env?: Record<string, string>): Promise<ServiceProcess> } {
  let root: string | undefined;
  const started: ServiceProcess[] = [];
  beforeAll(() => {
    ensureBuilt();
    root = mkdtempSync(path.join(os.tmpdir(), prefix));
  }, 300_000);
  afterAll(() => {
    for (const svc of started) if (svc.child.exitCode === null && svc.child.signalCode === null) svc.child.kill('SIGKILL');
    if (root) rmSync(root, { recursive: true, force: true });
  });
  return {
    async start(dataDir, env = {}) {
      const svc = await startServiceProcess({ AUTH: 'disabled', DATA_DIR: path.join(root!, dataDir), ...env });
      started.push(svc);
      return svc;
    },
  };
}

/** One sample of a Prometheus text exposition, by metric name and exact label set (`a="x",b="y"`, sorted). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter(Boolean)
      .sort()
      .join(',');
    if (got === want) return Number(m[3]);
  }
  return undefined;
}
