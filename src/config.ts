/**
 * The service's one configuration: every setting, its environment variable, type, default and meaning, in
 * one table (`SETTINGS`). Values come from the environment, else from an optional JSON file named by
 * `IL6_CDS_CONFIG`, else the default. A bad value stops start-up with a message naming the setting.
 * `npm run docs:config` prints the README table from this file, so the two cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');

type Kind = 'string' | 'integer' | 'boolean' | 'url' | 'enum' | 'path';

interface Setting<K extends Kind = Kind> {
  env: string;
  kind: K;
  default: string | number | boolean | undefined;
  doc: string;
  values?: readonly string[];
  min?: number;
  max?: number;
}

export const SETTINGS = {
  nodeEnv: { env: 'NODE_ENV', kind: 'enum', values: ['development', 'test', 'production'], default: 'development', doc: 'Run mode. `production` refuses unsafe settings (auth disabled, the public sandbox issuer) and turns the preview page off.' },
  preview: { env: 'PREVIEW', kind: 'enum', values: ['on', 'off'], default: undefined, doc: 'The card preview page at `/` and its JSON API under `/preview/api/` (fire a fixture patient or a FHIR server patient through the service, see the cards and a chart). It has no authentication and can make the service contact any FHIR server it is given, so it is a development tool. Default: `on`, except `off` when `NODE_ENV` is `production`.' },
  previewHosts: { env: 'PREVIEW_HOSTS', kind: 'string', default: undefined, doc: 'Host names, comma-separated, on which the preview API answers besides `localhost`, `127.0.0.1` and `[::1]` (e.g. the name of a shared development server). A request whose `Host` is another name is refused: a foreign web site that points its own name at this machine (DNS rebinding) cannot read it through a browser.' },
  port: { env: 'PORT', kind: 'integer', min: 0, max: 65535, default: 8080, doc: 'TCP port the service listens on (0 = any free port).' },
  host: { env: 'HOST', kind: 'string', default: '127.0.0.1', doc: 'Interface to bind. The default answers this machine only (in development the preview API and the trusted public sandbox issuer are open to anyone who can connect); `0.0.0.0` for every interface, as the image and the compose file set it.' },
  publicBaseUrl: { env: 'PUBLIC_BASE_URL', kind: 'url', default: undefined, doc: 'The URL clients use to reach the service (scheme, host, port, no trailing slash). JWT `aud` is checked against it. Default: `http://localhost:<PORT>`.' },
  auth: { env: 'AUTH', kind: 'enum', values: ['required', 'disabled'], default: 'required', doc: 'Client authentication. `required`: every `/cds-services` call (discovery, service, feedback) needs `Authorization: Bearer <JWT>` signed by a trusted issuer (CDS Hooks 2.0 §trusting-cds-clients); anything else gets 401. `disabled`: anyone may call (development only; production refuses to start).' },
  trustedIssuersFile: { env: 'TRUSTED_ISSUERS_FILE', kind: 'path', default: undefined, doc: 'JSON file of the trusted JWT issuers, their keys (`jwksFile` or allowlisted `jku`) and the FHIR servers the service may contact for each (see Authentication). Relative paths resolve against the project root, paths inside the file against its folder. Unset: development and test trust the public CDS Hooks sandbox and the local development issuer; production refuses to start.' },
  jwtClockSkewSeconds: { env: 'JWT_CLOCK_SKEW_SECONDS', kind: 'integer', min: 0, max: 300, default: 60, doc: 'Clock skew tolerated when checking a JWT `exp` and `iat`.' },
  jwtMaxLifetimeSeconds: { env: 'JWT_MAX_LIFETIME_SECONDS', kind: 'integer', min: 30, max: 3600, default: 600, doc: 'A JWT whose `exp` is further ahead than this, or whose `iat` is older, is refused (CDS clients issue 5-minute tokens); it also bounds how long seen `jti`s are kept.' },
  jwksTimeoutMs: { env: 'JWKS_TIMEOUT_MS', kind: 'integer', min: 100, max: 30000, default: 3000, doc: 'Deadline for fetching an issuer JWKS from its allowlisted `jku`.' },
  jwksCacheSeconds: { env: 'JWKS_CACHE_SECONDS', kind: 'integer', min: 10, max: 86400, default: 600, doc: 'A JWKS fetched from a `jku` is fetched again after this long (at its next use).' },
  jwksRefreshMinSeconds: { env: 'JWKS_REFRESH_MIN_SECONDS', kind: 'integer', min: 0, max: 3600, default: 30, doc: 'Least time between two loads of the same issuer keys (a token with an unknown `kid` causes one; failed loads count too).' },
  redisUrl: { env: 'REDIS_URL', kind: 'string', default: undefined, doc: 'Redis holding the seen-`jti` set of replay protection, shared by all replicas behind a load balancer (`redis://[user:password@]host:6379[/db]`). Unset: kept in memory (one process).' },
  jsonMaxDepth: { env: 'JSON_MAX_DEPTH', kind: 'integer', min: 8, max: 1000, default: 64, doc: 'Deepest nesting of objects and arrays accepted in a request body; deeper bodies get 400.' },
  servicesDir: { env: 'CDS_SERVICES_DIR', kind: 'path', default: 'cds-services', doc: 'Folder with one sub-folder per CDS service (discovery entry and rules). Relative paths resolve against the project root.' },
  rulesProfile: { env: 'RULES_PROFILE', kind: 'string', default: 'default', doc: 'Threshold profile of the rule files (`default`, or `longevity` for the IL-6 rules). A service whose rule file does not define the profile uses `default` and says so in the log.' },
  bodyLimitBytes: { env: 'BODY_LIMIT_BYTES', kind: 'integer', min: 1024, max: 100 * 1024 * 1024, default: 5 * 1024 * 1024, doc: 'Largest accepted request body; larger bodies get 413.' },
  fhirTimeoutMs: { env: 'FHIR_TIMEOUT_MS', kind: 'integer', min: 100, max: 60000, default: 3000, doc: 'One overall deadline for all FHIR fetches of a hook call; past it the call answers 412.' },
  fhirMaxPages: { env: 'FHIR_MAX_PAGES', kind: 'integer', min: 1, max: 1000, default: 20, doc: 'Most `next` pages followed per prefetch query.' },
  fhirMaxResources: { env: 'FHIR_MAX_RESOURCES', kind: 'integer', min: 1, max: 1000000, default: 20000, doc: 'Most resources accepted per prefetch query (fetched or prefetched); more is treated as unavailable data (412).' },
  logLevel: { env: 'LOG_LEVEL', kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', doc: 'Log level of the structured JSON log on stdout.' },
  metrics: { env: 'METRICS', kind: 'enum', values: ['on', 'off'], default: 'on', doc: 'Prometheus metrics at `GET /metrics` (requests by service and status, per-stage latency histograms, FHIR fetch errors, cards by finding, card-history drops, process metrics). Like `/healthz` and `/readyz` it needs no JWT: keep it off the public side of the reverse proxy. `off`: not collected, 404.' },
  shutdownTimeoutMs: { env: 'SHUTDOWN_TIMEOUT_MS', kind: 'integer', min: 0, max: 600000, default: 25000, doc: 'On SIGTERM/SIGINT the service stops accepting connections, answers `/readyz` 503, lets in-flight calls finish (their connections then close), writes the queued card history and exits 0. Calls still running after this long have their connections closed (`0`: wait as long as they take). Keep it below the orchestrator\'s grace period (compose `stop_grace_period`).' },
  dataDir: { env: 'DATA_DIR', kind: 'path', default: '.local/data', doc: 'Folder of the embedded SQLite database `il6-cds.sqlite` (card history and feedback), used when `DATABASE_URL` is not set. Relative paths resolve against the project root.' },
  databaseUrl: { env: 'DATABASE_URL', kind: 'string', default: undefined, doc: 'PostgreSQL connection URL (`postgres://user:password@host:5432/database`). Set: card history and feedback go to PostgreSQL, which several replicas share. Unset: the embedded SQLite file under `DATA_DIR`.' },
  databaseSchema: { env: 'DATABASE_SCHEMA', kind: 'string', default: 'public', doc: 'PostgreSQL schema of the tables, created if missing (lower-case letters, digits, `_`).' },
  databasePoolMax: { env: 'DATABASE_POOL_MAX', kind: 'integer', min: 1, max: 100, default: 10, doc: 'Most PostgreSQL connections per process.' },
  cardHistory: { env: 'CARD_HISTORY', kind: 'enum', values: ['on', 'off'], default: 'on', doc: 'Record every issued card (uuids, finding, rule-set version and profile, indicator, hookInstance, time, salted patient hash), written behind the response. `off`: no history; feedback is still stored, for cards the summary then cannot attribute.' },
  cardHistoryQueueMax: { env: 'CARD_HISTORY_QUEUE_MAX', kind: 'integer', min: 1, max: 1000000, default: 10000, doc: 'Most issued cards waiting to be written. When full, further cards are not recorded (counted and logged as a warning); the hook is never slowed or failed.' },
  retentionDays: { env: 'RETENTION_DAYS', kind: 'integer', min: 0, max: 36500, default: 0, doc: 'Card history issued and feedback received more than this many days ago are deleted (shortly after start-up, then every 6 hours). `0` keeps them for ever; set it to what your records policy requires.' },
  patientHashSalt: { env: 'PATIENT_HASH_SALT', kind: 'string', default: undefined, doc: 'Secret for the patient pseudonym in card history (HMAC-SHA256 of the patient id), at least 32 characters, the same on every replica. Unset: a random salt created by the first migration and kept in the database (stable across restarts, shared by replicas). Set it from a secret store in production so that a copy of the database alone cannot be used to test candidate patient ids. Changing it breaks the link to earlier hashes.' },
  benchFloor: { env: 'BENCH_FLOOR', kind: 'enum', values: ['on', 'off'], default: 'off', doc: 'The benchmark floor `POST /cds-services/_floor`: behind the same middleware as a hook call (authentication included), it parses the body and answers one fixed card, so `npm run bench` can compare the service with the cost of HTTP and JSON alone. For benchmarking only; production refuses to start with it on.' },
} as const satisfies Record<string, Setting>;

type Settings = typeof SETTINGS;
// A setting without a default is undefined when not set.
type ValueOf<S> = (S extends { kind: 'integer' } ? number : S extends { kind: 'boolean' } ? boolean : string) | (S extends { default: undefined } ? undefined : never);

export type Config = { [K in keyof Settings]: ValueOf<Settings[K]> } & { publicBaseUrl: string };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Builds the configuration from `env` (and the file it names); throws ConfigError naming the bad setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const file = readConfigFile(env.IL6_CDS_CONFIG);
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [string, Setting][]) {
    if (key in overrides && (overrides as Record<string, unknown>)[key] !== undefined) {
      out[key] = (overrides as Record<string, unknown>)[key];
      continue;
    }
    const raw = env[setting.env] ?? file[key] ?? file[setting.env];
    out[key] = raw === undefined || raw === '' ? setting.default : parse(setting, raw);
  }
  out.servicesDir = path.resolve(PROJECT_ROOT, String(out.servicesDir));
  out.publicBaseUrl = String(out.publicBaseUrl ?? `http://localhost:${String(out.port)}`).replace(/\/+$/, '');
  out.dataDir = path.resolve(PROJECT_ROOT, String(out.dataDir));
  // Never echo these two values: the URL may carry a password, the salt is a secret.
  if (out.databaseUrl !== undefined && !/^postgres(ql)?:\/\//i.test(String(out.databaseUrl))) throw new ConfigError('Setting DATABASE_URL is invalid: expected postgres://user:password@host:port/database, or leave it unset for the embedded SQLite store.');
  if (out.benchFloor === 'on' && out.nodeEnv === 'production') throw new ConfigError('Setting BENCH_FLOOR=on is refused in production (NODE_ENV=production): the benchmark floor is for benchmarking only.');
  if (out.previewHosts !== undefined && !String(out.previewHosts).split(',').every((h) => /^(?:[a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/i.test(h.trim()))) throw new ConfigError('Setting PREVIEW_HOSTS is invalid: expected host names separated by commas, without scheme or port (e.g. cds-dev.example.org).');
  if (out.patientHashSalt !== undefined && String(out.patientHashSalt).length < 32) throw new ConfigError('Setting PATIENT_HASH_SALT is invalid: it must be at least 32 characters.');
  return out as Config;
}

function readConfigFile(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`IL6_CDS_CONFIG names ${file}, which cannot be read: ${(err as Error).message}`);
  }
  let settings: Record<string, unknown>;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    settings = parsed as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`Configuration file ${file} is not a JSON object: ${(err as Error).message}`);
  }
  // A misspelt key would otherwise leave its setting at the default without a word.
  const known = new Set(Object.entries(SETTINGS).flatMap(([key, s]) => [key, s.env]));
  const unknown = Object.keys(settings).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new ConfigError(`Configuration file ${file} names ${unknown.map((k) => JSON.stringify(k.slice(0, 64))).join(', ')}, which ${unknown.length === 1 ? 'is not a setting' : 'are not settings'}: use the names of the settings table (e.g. "PORT" or "port").`);
  }
  return settings;
}

function parse(s: Setting, raw: unknown): string | number | boolean {
  const fail = (why: string): never => {
    throw new ConfigError(`Setting ${s.env}=${JSON.stringify(raw)} is invalid: ${why}.`);
  };
  const text = String(raw).trim();
  switch (s.kind) {
    case 'integer': {
      if (!/^-?\d+$/.test(text)) fail('expected a whole number');
      const n = Number(text);
      if (s.min !== undefined && n < s.min) fail(`must be at least ${s.min}`);
      if (s.max !== undefined && n > s.max) fail(`must be at most ${s.max}`);
      return n;
    }
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(text)) return true;
      if (/^(false|0|no|off)$/i.test(text)) return false;
      return fail('expected true or false');
    case 'enum':
      if (!s.values!.includes(text)) fail(`expected one of ${s.values!.join(', ')}`);
      return text;
    case 'url': {
      let u: URL | undefined;
      try {
        u = new URL(text);
      } catch {
        fail('expected an absolute http(s) URL');
      }
      if (u!.protocol !== 'http:' && u!.protocol !== 'https:') fail('expected an http(s) URL');
      return text;
    }
    default:
      if (text === '') fail('must not be empty');
      return text;
  }
}

/** The README table of settings, generated from SETTINGS. */
export function settingsMarkdown(): string {
  const rows = Object.values(SETTINGS as Record<string, Setting>).map((s) => {
    const def = s.default === undefined ? '—' : `\`${String(s.default)}\``;
    const values = s.values ? ` One of: ${s.values.map((v) => `\`${v}\``).join(', ')}.` : '';
    return `| \`${s.env}\` | ${def} | ${s.doc}${values} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
