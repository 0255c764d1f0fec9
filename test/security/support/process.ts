/**
 * Real service processes for tests: `node -r ts-register.js src/main.ts` with a given environment, like a
 * deployment runs `npm start`. `startServiceProcess` resolves once the process logs that it listens (with the
 * port it bound); `runServiceProcess` waits for it to exit (start-up refusals).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../../src/config';

const REGISTER = path.join(__dirname, 'ts-register.js');
const MAIN = path.join(PROJECT_ROOT, 'src', 'main.ts');

export interface ServiceProcess {
  port: number;
  url: string;
  /** Every stdout line so far (the JSON log). */
  lines: string[];
  stop(): Promise<void>;
}

function baseEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  // Only what the service needs: no inherited settings from the developer's shell.
  return { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env };
}

export function startServiceProcess(env: Record<string, string>, timeoutMs = 20_000): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['-r', REGISTER, MAIN], { cwd: PROJECT_ROOT, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<ServiceProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`service process did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (line.includes('il6-cds listening')) {
          clearTimeout(timer);
          const port = (JSON.parse(line) as { port: number }).port;
          resolve({ port, url: `http://127.0.0.1:${port}`, lines, stop: () => stop(child) });
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`service process exited with ${code} before listening: ${stderr}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Runs the service until it exits by itself (or `timeoutMs`); returns its exit code and output. */
export function runServiceProcess(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['-r', REGISTER, MAIN], { cwd: PROJECT_ROOT, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
