/**
 * Opens the configured store: PostgreSQL when `DATABASE_URL` is set, else the embedded SQLite file
 * `<DATA_DIR>/il6-cds.sqlite`. Opening applies pending migrations. The caller closes the store.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { PostgresStore } from './postgres';
import { SqliteStore } from './sqlite';
import type { Store } from './types';

export type { Store } from './types';
export * from './types';

export const SQLITE_FILE = 'il6-cds.sqlite';

export type StoreConfig = Pick<Config, 'dataDir' | 'databaseUrl' | 'databaseSchema' | 'databasePoolMax'>;

export class StoreOpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreOpenError';
  }
}

export interface OpenStoreOptions {
  /** Refuse a store that is not there, instead of creating it: for readers such as `il6-cds feedback-summary`. */
  mustExist?: boolean;
}

export async function openStore(config: StoreConfig, logger?: Logger, options: OpenStoreOptions = {}): Promise<Store> {
  const onNewerSchema = (version: number, known: number) =>
    logger?.warn({ version, known }, 'the database schema is newer than this build (a newer replica migrated it); continuing');
  let store: Store;
  const file = path.join(config.dataDir, SQLITE_FILE);
  try {
    if (options.mustExist && !config.databaseUrl && !existsSync(file)) {
      throw new Error(`${file} does not exist; DATA_DIR must be the service's data folder (the one holding its ${SQLITE_FILE}), or set DATABASE_URL if the service uses PostgreSQL`);
    }
    store = config.databaseUrl
      ? await PostgresStore.open({
          url: config.databaseUrl,
          schema: config.databaseSchema,
          poolMax: config.databasePoolMax,
          onNewerSchema,
          mustExist: options.mustExist,
          onPoolError: (err) => logger?.warn({ err: { message: err.message } }, 'idle PostgreSQL connection failed; the pool replaces it'),
        })
      : await SqliteStore.open({ file, onNewerSchema });
  } catch (err) {
    const where = config.databaseUrl ? 'the PostgreSQL database (DATABASE_URL)' : `the SQLite database in ${config.dataDir} (DATA_DIR)`;
    throw new StoreOpenError(`cannot open ${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  logger?.info({ store: store.description }, 'store open');
  return store;
}
