/**
 * The card preview page (a development tool): `GET /` serves a static page (`src/preview/page/`, read from the
 * project root at run time, so the compiled server finds it too), and a small JSON API under `/preview/api/`
 * fires a hook in-process through the service's own pipeline (`invokeHook`) and returns its cards with the
 * chart data of its evaluation:
 *
 *   GET  /preview/api/services  the services, their hook, profiles and whether their rule file has a chart
 *   GET  /preview/api/fixtures  the synthetic patients of `fhir-fixtures/` (slug, title, profile, findings)
 *   POST /preview/api/fire      { service?, profile?, fixture } or { service?, profile?, fhirServer, patientId }
 *
 * A fixture is rebased to now and sent as a full prefetch; a FHIR server patient is fetched by the service
 * under the hook route's options (deadline, pages, resources). The caller is not authenticated, so the FHIR
 * servers it may name are those the hook allows an unauthenticated development caller (loopback hosts and the
 * public HAPI R4 sandbox), whatever the mode. The router is only mounted when `previewEnabled(config)`, and it
 * refuses cross-origin API calls and calls addressed to a host name it does not know (DNS rebinding).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { devDefaultFhirServers, logOrigin, type FhirServerAllowed } from '../auth';
import type { CdsRequest } from '../cds-hooks/types';
import { PROJECT_ROOT, type Config } from '../config';
import { buildPrefetch, FIXTURES_DIR, fixtureResources, listFixtures, type Fixture } from '../fixtures/catalog';
import { invokeHook, type InvokeOptions } from '../hooks/invoke';
import type { Logger } from '../logger';
import { badRequest, notFound, OperationOutcomeError, outcome, unprocessable } from '../outcomes';
import type { CdsService, ServiceRegistry } from '../services/registry';
import { chartData } from './chart';

export const PAGE_DIR = path.join(PROJECT_ROOT, 'src', 'preview', 'page');

/** `PREVIEW=on|off` decides; unset, the page is on except in production. */
export function previewEnabled(config: Pick<Config, 'preview' | 'nodeEnv'>): boolean {
  return config.preview ? config.preview === 'on' : config.nodeEnv !== 'production';
}

export interface PreviewDeps {
  registry: ServiceRegistry;
  logger: Logger;
  /** The hook route's options (FHIR deadline, limits). */
  invokeOptions: InvokeOptions;
  /** FHIR servers a preview call may contact. Default: the development allowlist of the hook (loopback, public HAPI). */
  fhirServerAllowed?: FhirServerAllowed;
  fixturesDir?: string;
  pageDir?: string;
  /** `PREVIEW_HOSTS`: host names the API answers on besides the loopback ones. */
  hosts?: string;
}

/** Host names the preview API always answers on. */
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page runs only its own scripts and styles, talks only to this origin, and is never framed. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function previewRouter(deps: PreviewDeps): Router {
  const router = Router();
  const pageDir = deps.pageDir ?? PAGE_DIR;
  const fixturesDir = deps.fixturesDir ?? FIXTURES_DIR;
  const assets = new Map<string, string>();
  if (existsSync(pageDir)) {
    for (const name of readdirSync(pageDir)) {
      const type = CONTENT_TYPES[path.extname(name)];
      if (type && /^[a-z0-9-]+\.[a-z]+$/.test(name)) assets.set(name, type);
    }
  }
  if (!assets.has('index.html')) deps.logger.warn({ pageDir }, 'preview page files not found; GET / will answer 404');

  let fixtures: Fixture[] | undefined;
  const allFixtures = (): Fixture[] => {
    if (!fixtures) {
      try {
        fixtures = listFixtures(fixturesDir);
      } catch (err) {
        deps.logger.warn({ err, fixturesDir }, 'preview: fixtures could not be read');
        fixtures = [];
      }
    }
    return fixtures;
  };

  const sendAsset = async (res: Response, name: string) => {
    const type = assets.get(name);
    if (!type) throw notFound(`No preview file "${name}".`);
    const body = await readFile(path.join(pageDir, name));
    securityHeaders(res);
    res.setHeader('Cache-Control', 'no-store'); // a development tool: edits show on reload
    res.type(type).send(body);
  };

  router.get('/', async (_req, res) => sendAsset(res, 'index.html'));
  router.get('/preview/static/:file', async (req, res) => sendAsset(res, req.params.file!));

  router.use('/preview/api', sameOriginOnly(previewHosts(deps.hosts)));
  router.get('/preview/api/services', (_req, res) => {
    sendJson(
      res,
      deps.registry.services.map((s) => ({
        id: s.id,
        title: s.definition.title ?? s.id,
        hook: s.definition.hook,
        profile: s.profile,
        profiles: Object.keys(s.ruleSet.profiles),
        chart: Object.values(s.ruleSet.profiles).some((p) => p.chart),
      })),
    );
  });
  router.get('/preview/api/fixtures', (_req, res) => {
    sendJson(
      res,
      allFixtures().map((f) => ({ slug: f.slug, title: f.expected.title, profile: f.expected.profile ?? 'default', patient: f.expected.patient, findings: f.expected.findings })),
    );
  });
  router.post('/preview/api/fire', async (req, res) => {
    const body = req.body as unknown;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Send a JSON object: { fixture } or { fhirServer, patientId }, optionally with service and profile.');
    const b = body as Record<string, unknown>;
    for (const key of ['service', 'profile', 'fixture', 'fhirServer', 'patientId'] as const) {
      if (b[key] !== undefined && typeof b[key] !== 'string') throw badRequest(`${key} must be a string.`, key);
    }
    const service = pickService(deps.registry, b.service as string | undefined);
    const base = { hook: service.definition.hook, hookInstance: randomUUID() };
    const context = (patientId: string) => ({ userId: 'Practitioner/preview', patientId });
    let hookBody: CdsRequest;
    let fixture: Fixture | undefined;
    if (b.fixture !== undefined) {
      if (b.fhirServer !== undefined || b.patientId !== undefined) throw badRequest('Give either fixture, or fhirServer and patientId, not both.');
      fixture = allFixtures().find((f) => f.slug === b.fixture);
      if (!fixture) throw notFound(`There is no fixture "${String(b.fixture)}". GET /preview/api/fixtures lists them.`);
      const patientId = fixture.expected.patient;
      const resources = fixtureResources(fixture);
      hookBody = { ...base, context: context(patientId), prefetch: buildPrefetch(service.definition.prefetch ?? {}, resources, patientId) };
    } else {
      const fhirServer = typeof b.fhirServer === 'string' ? b.fhirServer.trim().replace(/\/+$/, '') : '';
      const patientId = typeof b.patientId === 'string' ? b.patientId.trim() : '';
      if (!fhirServer || !patientId) throw badRequest('Give a fixture, or a fhirServer (FHIR base URL) and a patientId.');
      hookBody = { ...base, fhirServer, context: context(patientId) };
    }
    const profile = pickProfile(service, b.profile as string | undefined, fixture?.expected.profile);
    const result = await invokeHook({ ...service, profile }, hookBody, {
      ...deps.invokeOptions,
      keepEvaluation: true,
      fhirServerAllowed: deps.fhirServerAllowed ?? devDefaultFhirServers,
      onRefusedServer: (url) => deps.logger.warn({ cdsService: service.id, fhirServer: logOrigin(url) }, 'preview: fhirServer not allowed; not contacted'),
    });
    // A mistyped id would otherwise read as "no cards": the data was fetched, and it held no such patient, or
    // one the FHIR R4 screen left out (then the record needs fixing, not the id).
    if (!fixture && !result.evaluation?.patient) {
      const { patientId } = hookBody.context;
      const unreadable = result.invalidResources?.find((r) => r.resourceType === 'Patient');
      if (unreadable) {
        throw unprocessable(
          `Patient "${patientId}" on ${hookBody.fhirServer} is not valid FHIR R4 (${unreadable.path}: ${unreadable.keyword}), so the rules cannot read it: correct that element of Patient/${patientId} on the FHIR server.`,
        );
      }
      throw notFound(`Patient "${patientId}" was not found on ${hookBody.fhirServer} (it has no Patient/${patientId}): check the patient id and the FHIR base URL.`);
    }
    for (const e of result.ruleErrors) deps.logger.warn({ cdsService: service.id, where: e.where, message: e.message }, 'preview: rule expression failed on a resource');
    sendJson(res, {
      service: { id: service.id, title: service.definition.title ?? service.id },
      profile,
      patientId: hookBody.context.patientId,
      source: fixture ? 'fixture' : 'fhirServer',
      ...(fixture ? { fixture: { slug: fixture.slug, title: fixture.expected.title, profile: fixture.expected.profile ?? 'default', findings: fixture.expected.findings } } : {}),
      cards: result.response.cards,
      chart: result.evaluation ? chartData(result.evaluation) : null,
      keys: result.keys,
      resources: result.resourceCount,
      timings: Object.fromEntries(Object.entries(result.timings).map(([k, v]) => [k, Math.round(v * 100) / 100])),
      ruleErrors: result.ruleErrors,
    });
  });
  return router;
}

function pickService(registry: ServiceRegistry, id: string | undefined): CdsService {
  if (id === undefined) {
    const first = registry.services[0];
    if (!first) throw notFound('This deployment has no CDS services.');
    return first;
  }
  return registry.get(id) ?? fail(notFound(`There is no CDS service "${id}".`));
}

/** The profile asked for; else the fixture's, when the rule file has it; else the service's configured one. */
function pickProfile(service: CdsService, asked: string | undefined, fixtureProfile: string | undefined): string {
  const profiles = service.ruleSet.profiles;
  if (asked !== undefined) {
    if (!Object.hasOwn(profiles, asked)) throw badRequest(`Service "${service.id}" has no profile "${asked}" (it has ${Object.keys(profiles).join(', ')}).`, 'profile');
    return asked;
  }
  return fixtureProfile !== undefined && Object.hasOwn(profiles, fixtureProfile) ? fixtureProfile : service.profile;
}

function fail(err: Error): never {
  throw err;
}

function securityHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
}

function sendJson(res: Response, value: unknown): void {
  securityHeaders(res);
  res.setHeader('Cache-Control', 'no-store');
  res.type('application/json').send(JSON.stringify(value));
}

/** The host names of `PREVIEW_HOSTS` (comma-separated) and the loopback ones, lower-case. */
export function previewHosts(setting: string | undefined): Set<string> {
  const extra = (setting ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  return new Set([...LOOPBACK_HOSTS, ...extra]);
}

/** The host name of a `Host` header (port dropped, lower-case); undefined when it is not one. */
function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  try {
    return new URL(`http://${header}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * The API has no token, so other web sites must not drive it through a developer's browser: no CORS grant
 * (the app-wide CORS header is withdrawn), and a request whose Origin is another site is refused. Clients
 * without an Origin header (curl, tests) are served. The Origin check alone does not stop DNS rebinding (a
 * site that re-points its own name at this machine is "same origin" with itself), so the `Host` must also be
 * a name this service is known by: a loopback name or one of `PREVIEW_HOSTS`.
 */
function sameOriginOnly(hosts: ReadonlySet<string>): RequestHandler {
  return (req: Request, res: Response, next) => {
    res.removeHeader('Access-Control-Allow-Origin');
    res.removeHeader('Access-Control-Expose-Headers');
    const host = hostName(req.get('host'));
    if (host === undefined || !hosts.has(host)) {
      throw new OperationOutcomeError(
        403,
        outcome([{ code: 'forbidden', diagnostics: `The preview API answers only on ${[...hosts].join(', ')}. To serve it under another host name, add that name to PREVIEW_HOSTS.` }]),
      );
    }
    const origin = req.get('origin');
    if (origin !== undefined) {
      let originHost: string | undefined;
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = undefined;
      }
      if (originHost === undefined || originHost !== req.get('host')) {
        throw new OperationOutcomeError(403, outcome([{ code: 'forbidden', diagnostics: 'The preview API answers only pages of its own origin.' }]));
      }
    }
    next();
  };
}
