/**
 * The two real stores for tests, so one behavioural suite runs against both (`describeBackends`):
 *   - sqlite: a fresh file in a fresh temp folder;
 *   - postgres: a fresh schema in the database at IL6_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test),
 *     dropped afterwards. When PostgreSQL cannot be reached, its tests are skipped and the reason is printed.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { Config } from '../../src/config';
import { openStore } from '../../src/store';
import type { Store } from '../../src/store/types';

export const PG_URL = process.env.IL6_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A place for one store: the settings a service (or a child process) needs to use it, and its cleanup. */
export interface StoreLocation {
  backend: 'sqlite' | 'postgres';
  config: Pick<Config, 'dataDir' | 'databaseUrl' | 'databaseSchema' | 'databasePoolMax'>;
  /** The same as environment variables, for child processes. */
  env: Record<string, string>;
  open(): Promise<Store>;
  cleanup(): Promise<void>;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  available: boolean;
  reason?: string;
  create(): StoreLocation;
}

/** Checked once per test file, synchronously (jest declares tests synchronously), with a short timeout. */
function probePostgres(): { ok: boolean; reason?: string } {
  const script = `const {Client}=require('pg');const c=new Client({connectionString:process.argv[1],connectionTimeoutMillis:2000});
c.connect().then(()=>c.query('select 1')).then(()=>c.end()).then(()=>process.exit(0),e=>{console.error(e.message);process.exit(1)})`;
  const res = spawnSync(process.execPath, ['-e', script, PG_URL], { cwd: path.resolve(__dirname, '../..'), timeout: 5000, encoding: 'utf8' });
  if (res.status === 0) return { ok: true };
  return { ok: false, reason: `PostgreSQL at ${PG_URL.replace(/\/\/[^@]*@/, '//')} is not reachable (${(res.stderr || res.error?.message || 'timeout').trim().slice(0, 200)}); set IL6_TEST_DATABASE_URL to run these tests` };
}

const pg = probePostgres();

export const sqliteBackend: Backend = {
  name: 'sqlite',
  available: true,
  create() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-store-'));
    const config = { dataDir: dir, databaseUrl: undefined, databaseSchema: 'public', databasePoolMax: 10 };
    return {
      backend: 'sqlite',
      config,
      env: { DATA_DIR: dir },
      open: () => openStore(config),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

export const postgresBackend: Backend = {
  name: 'postgres',
  available: pg.ok,
  reason: pg.reason,
  create() {
    const schema = `il6_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    const config = { dataDir: '/nonexistent', databaseUrl: PG_URL, databaseSchema: schema, databasePoolMax: 5 };
    return {
      backend: 'postgres',
      config,
      env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema },
      open: () => openStore(config),
      cleanup: async () => {
        const client = new Client({ connectionString: PG_URL });
        await client.connect();
        try {
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        } finally {
          await client.end();
        }
      },
    };
  },
};

export const backends: Backend[] = [sqliteBackend, postgresBackend];

/** `describe` per backend; an unavailable backend's block is skipped with its reason printed. */
export function describeBackends(title: string, fn: (backend: Backend) => void): void {
  for (const backend of backends) {
    if (!backend.available) {
      console.warn(`SKIPPED "${title}" on ${backend.name}: ${backend.reason}`);
      describe.skip(`${title} [${backend.name}] (skipped: ${backend.reason})`, () => fn(backend));
    } else {
      describe(`${title} [${backend.name}]`, () => fn(backend));
    }
  }
}
