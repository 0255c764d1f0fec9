/**
 * docker-compose.yml, the Dockerfile and their files, checked without a Docker engine (none runs here, so
 * neither `docker compose config` nor a build is run): the compose file parses, references only files and
 * pinned images that exist, gives the replicas only settings of src/config.ts with valid values, and its ports,
 * host names and volumes agree with each other, with deploy/proxy/nginx.conf and with the service's defaults.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { parseIssuersFile } from '../../src/auth/issuers';
import { loadConfig, SETTINGS } from '../../src/config';
import { ROOT } from './support';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  expose?: string[];
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  restart?: string;
}

const composeText = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = YAML.parse(composeText) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const replicas = ['il6-cds-1', 'il6-cds-2'];
const nginx = readFileSync(path.join(ROOT, 'deploy/proxy/nginx.conf'), 'utf8').replace(/#.*$/gm, '');
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const KNOWN_ENV = new Set<string>(Object.values(SETTINGS).map((s) => s.env));
/** Environment values with compose's `${VAR:-default}` replaced by the default. */
const substituted = (v: string) => v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

it('has the service (two replicas), HAPI, PostgreSQL, Redis, the one-shot loader and the TLS proxy', () => {
  expect(Object.keys(services).sort()).toEqual(['hapi', 'il6-cds-1', 'il6-cds-2', 'keys', 'loader', 'postgres', 'proxy', 'redis']);
});

it('references only files that exist (deploy/certs/ is made by deploy/make-dev-cert.sh) and declared volumes', () => {
  for (const [name, s] of Object.entries(services)) {
    if (s.build) {
      expect(existsSync(path.join(ROOT, s.build.context))).toBe(true);
      expect(existsSync(path.join(ROOT, s.build.context, s.build.dockerfile))).toBe(true);
    }
    for (const v of s.volumes ?? []) {
      const [source] = v.split(':') as [string];
      if (source.startsWith('.')) {
        if (source === './deploy/certs') {
          expect(existsSync(path.join(ROOT, 'deploy/make-dev-cert.sh'))).toBe(true);
          expect(readFileSync(path.join(ROOT, '.gitignore'), 'utf8')).toMatch(/^deploy\/certs\/$/m);
          continue;
        }
        expect({ name, source, exists: existsSync(path.join(ROOT, source)) }).toEqual({ name, source, exists: true });
      } else {
        expect(Object.keys(compose.volumes)).toContain(source);
      }
    }
  }
});

it('uses the images asked for, with pinned tags; the service images are built from the Dockerfile', () => {
  const images = Object.fromEntries(Object.entries(services).map(([n, s]) => [n, s.image]));
  expect(images.hapi).toMatch(/^hapiproject\/hapi:v\d+\.\d+\.\d+/);
  expect(images.postgres).toMatch(/^postgres:\d+\.\d+/);
  expect(images.redis).toMatch(/^redis:\d+\.\d+/);
  expect(images.proxy).toMatch(/^nginx:\d+\.\d+/);
  for (const n of [...replicas, 'loader', 'keys']) {
    expect(images[n]).toBe('il6-cds:local');
    expect(services[n]!.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
  }
  expect(composeText).not.toMatch(/:latest\b/);
});

it('gives the replicas only settings of src/config.ts, with values that load', () => {
  for (const r of replicas) {
    const env = services[r]!.environment!;
    const unknown = Object.keys(env).filter((k) => !KNOWN_ENV.has(k));
    expect(unknown).toEqual([]);
    const config = loadConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, substituted(String(v))])));
    expect(config.auth).toBe('required');
    expect(config.preview).toBe('off');
  }
  expect(services['il6-cds-1']!.environment).toEqual(services['il6-cds-2']!.environment);
});

it('ports and host names agree: replicas on PORT behind the nginx upstream, proxy published at PUBLIC_BASE_URL', () => {
  const env = services['il6-cds-1']!.environment!;
  const port = env.PORT!;
  for (const r of replicas) {
    expect(services[r]!.expose).toEqual([port]);
    expect(services[r]!.ports).toBeUndefined(); // never published: only through the proxy
    expect(nginx).toMatch(new RegExp(`^\\s*server ${r}:${port}\\b`, 'm'));
  }
  expect(nginx.match(/^\s*server il6-cds-\d+:\d+/gm)).toHaveLength(replicas.length);
  const proxyDeps = services.proxy!.depends_on!;
  for (const r of replicas) expect(proxyDeps[r]).toEqual({ condition: 'service_healthy' });
  const publicUrl = new URL(env.PUBLIC_BASE_URL!);
  expect(publicUrl.protocol).toBe('https:');
  expect(services.proxy!.ports).toContain(`${publicUrl.port}:443`);
  // nginx redirects plain HTTP to https://$host (port 443): port 80 is published only where HTTPS is on 443.
  const publishesHttp = services.proxy!.ports!.some((p) => /:80$/.test(p));
  expect({ publishesHttp, httpsPort: publicUrl.port || '443' }).toEqual({ publishesHttp: (publicUrl.port || '443') === '443', httpsPort: publicUrl.port || '443' });
  expect(nginx).toMatch(/listen 443 ssl;/);
  expect(services.proxy!.volumes).toEqual(expect.arrayContaining(['./deploy/proxy/nginx.conf:/etc/nginx/nginx.conf:ro', './deploy/certs:/etc/nginx/certs:ro']));
  expect(nginx).toMatch(/ssl_certificate \/etc\/nginx\/certs\/tls\.crt;/);

  const db = new URL(substituted(env.DATABASE_URL!));
  const pg = services.postgres!.environment!;
  expect([db.hostname, db.port, db.username, decodeURIComponent(db.password), db.pathname.slice(1)]).toEqual(['postgres', '5432', pg.POSTGRES_USER, substituted(pg.POSTGRES_PASSWORD!), pg.POSTGRES_DB]);
  expect(new URL(env.REDIS_URL!).hostname).toBe('redis');
  for (const dep of ['postgres', 'redis']) expect(services['il6-cds-1']!.depends_on![dep]).toEqual({ condition: 'service_healthy' });
});

it('the one-shot loader runs `il6-cds load --fhir http://hapi:8080/fhir` and HAPI listens on 8080', () => {
  const loader = services.loader!;
  expect(loader.command!.slice(0, 4)).toEqual(['il6-cds', 'load', '--fhir', 'http://hapi:8080/fhir']);
  expect(loader.restart).toBe('no');
  expect(services.hapi!.ports).toContain('8090:8080');
  expect(dockerfile).toMatch(/ln -s \/app\/bin\/il6-cds\.js \/usr\/local\/bin\/il6-cds/);
});

it('trusts the development issuer whose keys the `keys` job writes into the volume the replicas mount', () => {
  const replica = services['il6-cds-1']!;
  const file = replica.environment!.TRUSTED_ISSUERS_FILE!;
  const mount = replica.volumes!.find((v) => v.split(':')[1] === file)!;
  expect(mount).toBeDefined();
  const hostFile = path.join(ROOT, mount.split(':')[0]!);
  const [issuer] = parseIssuersFile(readFileSync(hostFile, 'utf8'), file, replica.environment!.NODE_ENV!);
  // The JWKS file, resolved inside the container, lies in the dev-issuer volume that `keys` fills.
  const keysVolume = services.keys!.volumes![0]!.split(':');
  expect(replica.volumes).toContain(keysVolume.join(':'));
  expect(path.posix.dirname(issuer!.jwksFile!)).toBe(keysVolume[1]);
  expect(services.keys!.command!.join(' ')).toContain('ensureDevIssuerKeys');
  expect(replica.depends_on!.keys).toEqual({ condition: 'service_completed_successfully' });
  expect(issuer!.fhirServers).toContain('http://hapi:8080/fhir');
  expect(services.loader!.volumes).toContain(keysVolume.join(':')); // `fire` run in the loader container signs with it
});

it('gives shutdown time: stop_grace_period is longer than SHUTDOWN_TIMEOUT_MS', () => {
  for (const r of replicas) {
    const grace = Number(/^(\d+)s$/.exec(services[r]!.stop_grace_period!)![1]) * 1000;
    expect(grace).toBeGreaterThan(Number(services[r]!.environment!.SHUTDOWN_TIMEOUT_MS));
  }
});

describe('Dockerfile', () => {
  const stages = [...dockerfile.matchAll(/^FROM (\S+) AS (\w+)$/gm)].map((m) => m[2]);
  const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
  const build = dockerfile.slice(dockerfile.indexOf('AS build'), dockerfile.indexOf('AS runtime'));

  it('is multi-stage: build with dev dependencies and the native toolchain, runtime with production dependencies only', () => {
    expect(stages).toEqual(['build', 'runtime']);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20\.\d+-bookworm-slim$/m);
    expect(build).toMatch(/apt-get install -y --no-install-recommends python3 make g\+\+/);
    expect(build).toMatch(/npm ci /);
    expect(build).toMatch(/npm rebuild better-sqlite3 --build-from-source/);
    expect(build).toMatch(/npm run build/);
    expect(build).toMatch(/npm prune --omit=dev/);
    expect(runtime).not.toMatch(/npm (ci|install)/);
    expect(runtime).toMatch(/COPY --from=build \/app\/node_modules \.\/node_modules/);
  });

  it('runs as a non-root user, with a HEALTHCHECK on /healthz and the compiled service as its command', () => {
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime.indexOf('USER node')).toBeLessThan(runtime.indexOf('CMD ['));
    expect(runtime).toMatch(/^HEALTHCHECK .*\n\s+CMD .*\/healthz/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/src\/main\.js"\]$/m);
    expect(runtime).toMatch(/^EXPOSE 8080$/m);
    expect(String(SETTINGS.port.default)).toBe('8080');
  });

  it('copies only files that exist and that .dockerignore lets through; local state and secrets stay out', () => {
    const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const must of ['.git', '.local', 'node_modules', 'dist']) expect(ignore).toContain(must);
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    expect(sources.length).toBeGreaterThan(5);
    for (const src of sources) {
      expect({ src, exists: existsSync(path.join(ROOT, src)) }).toEqual({ src, exists: true });
      expect(ignore.filter((i) => src === i || src.startsWith(`${i}/`))).toEqual([]);
    }
  });
});

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
(haveOpenssl ? it : it.skip)('deploy/make-dev-cert.sh writes a localhost certificate and an owner-only key, and keeps them on a second run', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-cert-'));
  try {
    copyFileSync(path.join(ROOT, 'deploy/make-dev-cert.sh'), path.join(dir, 'make-dev-cert.sh'));
    execFileSync('sh', [path.join(dir, 'make-dev-cert.sh')], { stdio: 'pipe' });
    const text = execFileSync('openssl', ['x509', '-in', path.join(dir, 'certs/tls.crt'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain('DNS:localhost');
    expect(statSync(path.join(dir, 'certs/tls.key')).mode & 0o777).toBe(0o600);
    const first = readFileSync(path.join(dir, 'certs/tls.crt'), 'utf8');
    expect(execFileSync('sh', [path.join(dir, 'make-dev-cert.sh')], { encoding: 'utf8' })).toContain('exists');
    expect(readFileSync(path.join(dir, 'certs/tls.crt'), 'utf8')).toBe(first);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
