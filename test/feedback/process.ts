/**
 * The real service as a child process, for the crash and two-replica tests: `node dist/src/main.js` when the
 * compiled build is up to date with the sources, else `node -r ts-require-hook.js src/main.ts` (the same code,
 * transpiled on load) — said once on the console, so a stale build never tests old code silently.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = path.resolve(__dirname, '../..');
const HOOK = path.join(__dirname, 'ts-require-hook.js');

/** Every non-test .ts/.json under src/ has a compiled counterpart in dist/src/ at least as new as it. */
function distIsFresh(): boolean {
  const walk = (dir: string): boolean => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!walk(file)) return false;
        continue;
      }
      if (entry.name.endsWith('.test.ts') || entry.name.endsWith('.d.ts')) continue;
      if (!entry.name.endsWith('.ts') && !entry.name.endsWith('.json')) continue;
      const rel = path.relative(ROOT, file).replace(/\.ts$/, '.js');
      const out = path.join(ROOT, 'dist', rel);
      if (!existsSync(out) || statSync(out).mtimeMs < statSync(file).mtimeMs) return false;
    }
    return true;
  };
  return walk(path.join(ROOT, 'src'));
}

export const ENTRY = distIsFresh()
  ? { main: ['dist/src/main.js'], cli: ['dist/src/cli/index.js'], how: 'the compiled build (dist/)' }
  : { main: ['-r', HOOK, 'src/main.ts'], cli: ['-r', HOOK, 'src/cli/index.ts'], how: 'the sources through a transpile hook (dist/ is older than src/; run `npm run build` to test the build itself)' };

/** A clean environment: nothing from the test runner's environment leaks in (no DATABASE_URL by accident). */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    NODE_ENV: 'development',
    PORT: '0',
    HOST: '127.0.0.1',
    AUTH: 'disabled',
    PREVIEW: 'off',
    LOG_LEVEL: 'info',
    ...env,
  };
}

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** The JSON log lines seen so far. */
  log: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, and the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startServiceProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ENTRY.main, { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const log: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => stderr.push(s));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`service did not start within ${timeoutMs} ms: ${stderr.join('').slice(-1000)}`));
    }, timeoutMs);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`service exited (${code ?? signal}) before listening: ${stderr.join('').slice(-1000)} ${JSON.stringify(log.slice(-5))}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (log.length < 5000) log.push(entry);
      if (entry.msg === 'il6-cds listening') {
        clearTimeout(timer);
        resolve({
          url: `http://127.0.0.1:${String(entry.port)}`,
          child,
          log,
          exited,
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
  });
}

/** Runs `il6-cds <args>` (the CLI) with the given environment; resolves with its stdout. */
export function runCli(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...ENTRY.cli, ...args], { cwd: ROOT, env: childEnv(env), timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`il6-cds ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}
