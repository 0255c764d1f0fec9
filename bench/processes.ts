/**
 * The processes of a benchmark run: the service and the test FHIR server as child processes (so start-up,
 * RSS and CPU are those of a real process), their RSS and CPU time read from /proc, and a bare HTTP client
 * for start-up probes and set-up calls (the load itself is autocannon's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');

/**
 * How to run one of the project's programs in a child process, the way this harness itself runs: compiled
 * (`node dist/src/main.js`, what `npm run bench` does) or from the TypeScript sources with the same `-r`
 * transpiling hook (the smoke test), so a child never runs code older than the harness.
 */
export function programArgs(relative: string): string[] {
  if (__filename.endsWith('.ts')) return [...process.execArgv, path.join(ROOT, `${relative}.ts`)];
  return [path.join(ROOT, 'dist', `${relative}.js`)];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ProcStats {
  rssMb: number;
  /** Peak RSS of the process's lifetime (VmHWM). */
  hwmMb: number;
  /** User + system CPU time so far. */
  cpuMs: number;
}

const CLOCK_TICK_MS = 10; // USER_HZ is 100 on Linux

/** RSS and CPU time of a process from /proc (Linux); undefined elsewhere or when it is gone. */
export function procStats(pid: number): ProcStats | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    // /proc/<pid>/stat: the command may hold spaces, so split after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuMs = (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS; // utime, stime (fields 14, 15)
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, cpuMs };
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs` until stopped. */
export class RssSampler {
  readonly samples: { t: number; rssMb: number }[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly start = performance.now();

  constructor(
    private readonly pid: number,
    everyMs: number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  private sample(): void {
    const s = procStats(this.pid);
    if (s) this.samples.push({ t: (performance.now() - this.start) / 1000, rssMb: s.rssMb });
  }

  stop(): { peakMb: number | undefined; samples: { t: number; rssMb: number }[] } {
    clearInterval(this.timer);
    this.sample();
    const peak = this.samples.reduce((m, s) => Math.max(m, s.rssMb), -Infinity);
    return { peakMb: Number.isFinite(peak) ? peak : undefined, samples: this.samples };
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One request on a fresh connection (no keep-alive), for probes and set-up. */
export function request(url: string, opts: { method?: string; body?: Buffer | string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: { connection: 'close', ...(opts.headers ?? {}) }, agent: false, timeout: opts.timeoutMs ?? 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export const JSON_HEADERS = { 'content-type': 'application/json' };

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Stops it (SIGTERM, then SIGKILL after 10 s) and waits for the exit. */
  stop(): Promise<void>;
}

function wrap(name: string, child: ChildProcess, onExit?: () => void): Child {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    pid: child.pid!,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(force);
      }
      onExit?.();
    },
  };
}

export interface ServiceOptions {
  name: string;
  port: number;
  /** Settings for the service (environment variables); merged over the benchmark's defaults by the caller. */
  env: Record<string, string>;
  /** The service's log (stdout and stderr) goes here: the per-stage timings are read from it. */
  logFile: string;
}

export interface ServiceChild extends Child {
  readonly url: string;
  readonly logFile: string;
}

/** Starts the service (`src/main`) in a child process; resolves at once (see {@link waitForStatus}). */
export function spawnService(opts: ServiceOptions): ServiceChild {
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(process.execPath, programArgs('src/main'), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env, PORT: String(opts.port), HOST: '127.0.0.1' },
    stdio: ['ignore', fd, fd],
  });
  let closed = false;
  const closeFd = () => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  child.once('exit', closeFd);
  return { ...wrap(opts.name, child, closeFd), url: `http://127.0.0.1:${opts.port}`, logFile: opts.logFile };
}

/**
 * Polls `POST url` with `body` every few milliseconds until it answers `status`; resolves with the time from
 * `since` (a performance.now() value). Rejects after `timeoutMs` or when the process exits.
 */
export async function waitForStatus(child: Child, url: string, body: Buffer, since: number, timeoutMs = 60_000, status = 200): Promise<number> {
  for (;;) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) throw new Error(`${child.name} exited (${child.process.exitCode ?? child.process.signalCode}) before answering`);
    try {
      const res = await request(url, { method: 'POST', body, headers: JSON_HEADERS, timeoutMs: 30_000 });
      if (res.status === status) return performance.now() - since;
      if (res.status !== 503) throw new Error(`${child.name}: POST ${url} answered ${res.status}: ${res.body.slice(0, 300)}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ECONNREFUSED' && code !== 'ECONNRESET') throw err;
    }
    if (performance.now() - since > timeoutMs) throw new Error(`${child.name} did not answer ${status} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface FhirServerChild extends Child {
  /** e.g. http://127.0.0.1:41234/fhir */
  readonly baseUrl: string;
}

/** Starts the test FHIR server (`src/test-fhir-server/main`) in a child process on a free port. */
export async function startFhirServer(logFile: string): Promise<FhirServerChild> {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...programArgs('src/test-fhir-server/main'), '--port', '0', '--host', '127.0.0.1'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'pipe', fd],
  });
  child.once('exit', () => closeSync(fd));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the test FHIR server did not start: ${out}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening at (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the test FHIR server exited (${code}): ${out}`));
    });
  });
  child.stdout!.resume();
  return { ...wrap('test FHIR server', child), baseUrl };
}
