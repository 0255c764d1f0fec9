/**
 * Authentication of CDS clients, mounted once for every `/cds-services` route (discovery, service calls,
 * feedback) in `app.ts`, before any body is read. CORS preflights never reach it (`http/cors.ts` answers
 * them). On success the caller is in `res.locals.cdsClient` (read it with {@link cdsClient}); on failure the
 * client gets 401 with `WWW-Authenticate: Bearer` and an OperationOutcome that does not say why — the reason
 * goes to the log, without the token.
 *
 * `AUTH=disabled` (development and test only) lets every caller through with the development FHIR-server
 * allowlist (loopback hosts and the public HAPI R4 server).
 */
import type { RequestHandler, Response } from 'express';
import { ConfigError, type Config } from '../config';
import type { Logger } from '../logger';
import { unauthorized, unavailable } from '../outcomes';
import { devDefaultFhirServers, type FhirServerAllowed } from './fhir-allowlist';
import { loadTrustedIssuers, SANDBOX_ISSUER, type IssuerOptions, type TrustedIssuers } from './issuers';
import { createReplayStore, type ReplayStore } from './replay';
import { AuthFailure, bearerToken, verifyClientJwt, type VerifiedToken } from './verify';

export { DEV_ISSUER, DEV_ISSUER_DIR, ensureDevIssuerKeys, signDevToken, type DevTokenOptions } from './dev-issuer';
export { devDefaultFhirServers, fhirServerMatcher, isLoopbackUrl, logOrigin, type FhirServerAllowed } from './fhir-allowlist';
export { SANDBOX_ISSUER, SANDBOX_JKU } from './issuers';
export { ALLOWED_ALGORITHMS } from './verify';

/** The caller of one request, as established by authentication. */
export interface CdsClient {
  /** True when a JWT was verified; false when `AUTH=disabled`. */
  authenticated: boolean;
  iss?: string;
  tenant?: string;
  /** SSRF guard for this caller: may its request's `fhirServer` be contacted and given the access token? */
  fhirServerAllowed: FhirServerAllowed;
}

const denyAll: CdsClient = { authenticated: false, fhirServerAllowed: () => false };

/** The authenticated caller of this request. Without one (a route outside the auth middleware) nothing is allowed. */
export function cdsClient(res: Response): CdsClient {
  return (res.locals.cdsClient as CdsClient | undefined) ?? denyAll;
}

export interface Auth {
  readonly mode: 'required' | 'disabled';
  readonly issuers: TrustedIssuers;
  readonly replay: ReplayStore | undefined;
  readonly middleware: RequestHandler;
  /** The base URLs a token's `aud` may start with (the request path follows). */
  audienceBases(): string[];
  /** Tells the authenticator the port actually bound (the `aud` base when PUBLIC_BASE_URL is not set). */
  setListeningPort(port: number): void;
  close(): Promise<void>;
}

export interface AuthOptions extends IssuerOptions {
  /** Replaces the replay store built from REDIS_URL (tests). */
  replay?: ReplayStore;
}

/** Refuses configurations that must never run in production. */
export function assertProductionSafe(config: Config): void {
  if (config.nodeEnv !== 'production') return;
  if (config.auth !== 'required') throw new ConfigError('Production mode (NODE_ENV=production) refuses AUTH=disabled: every CDS client must present a JWT.');
  if (!/^https:\/\//i.test(config.publicBaseUrl)) {
    throw new ConfigError('Production mode (NODE_ENV=production) needs PUBLIC_BASE_URL set to the https URL clients use (TLS ends at the reverse proxy); JWT audiences are checked against it.');
  }
}

export function createAuth(config: Config, logger: Logger, opts: AuthOptions = {}): Auth {
  assertProductionSafe(config);
  const production = config.nodeEnv === 'production';
  // PUBLIC_BASE_URL not set: loadConfig filled in http://localhost:<PORT>; the real port is known after listen.
  const derivedBase = config.publicBaseUrl === `http://localhost:${config.port}`;
  let port = config.port;
  const audienceBases = (): string[] =>
    derivedBase && !production ? [`http://localhost:${port}`, `http://127.0.0.1:${port}`] : [config.publicBaseUrl];

  if (config.auth === 'disabled') {
    logger.warn({ auth: 'disabled' }, 'AUTH=disabled: every caller is trusted (development FHIR-server allowlist); never run like this with real data');
    const open: CdsClient = { authenticated: false, fhirServerAllowed: devDefaultFhirServers };
    return {
      mode: 'disabled',
      issuers: new Map(),
      replay: undefined,
      middleware: (_req, res, next) => {
        res.locals.cdsClient = open;
        next();
      },
      audienceBases,
      setListeningPort(p) {
        port = p;
      },
      close: () => Promise.resolve(),
    };
  }

  const issuers = loadTrustedIssuers(config, {
    ...opts,
    onKeySetEvent:
      opts.onKeySetEvent ??
      ((e) => (e.ok ? logger.info({ keySet: e.source, keys: e.keys }, 'issuer keys loaded') : logger.warn({ keySet: e.source, reason: e.reason }, 'issuer keys could not be loaded'))),
  });
  const replay =
    opts.replay ??
    createReplayStore(config.redisUrl, {
      onState: (state, detail) =>
        state === 'error' ? logger.error({ replayStore: 'redis', detail }, 'replay store unreachable: authenticated calls get 503 until it is back') : logger.info({ replayStore: 'redis', state }, 'replay store'),
    });
  logger.info(
    { auth: 'required', issuers: [...issuers.values()].map((i) => `${i.iss} (${i.origin})`), replayStore: replay.kind, audienceBases: audienceBases() },
    'client authentication on',
  );
  if (issuers.has(SANDBOX_ISSUER)) {
    logger.warn('the public CDS Hooks sandbox is a trusted issuer (development/test only): its private key is published, so its tokens prove nothing');
  }

  const middleware: RequestHandler = async (req, res, next) => {
    const requestId = res.locals.requestId as string | undefined;
    const path = req.originalUrl.split('?')[0]!;
    let verified: VerifiedToken;
    try {
      verified = await verifyClientJwt(bearerToken(req.get('authorization')), {
        issuers,
        replay,
        audiences: audienceBases().map((b) => `${b}${path}`),
        clockSkewSeconds: config.jwtClockSkewSeconds,
        maxLifetimeSeconds: config.jwtMaxLifetimeSeconds,
      });
    } catch (err) {
      if (err instanceof AuthFailure) {
        logger.warn({ requestId, reason: err.reason, ...(err.detail ? { detail: err.detail } : {}), ...(err.iss ? { iss: err.iss } : {}) }, 'authentication failed');
        res.setHeader('WWW-Authenticate', 'Bearer');
        next(unauthorized());
        return;
      }
      // The token could not be checked (e.g. the shared replay store is down): fail closed, but it is not
      // the client's fault, so 503 rather than 401.
      logger.error({ requestId, error: err instanceof Error ? `${err.name}: ${err.message.slice(0, 200)}` : 'unknown' }, 'authentication could not be completed');
      next(unavailable('Authentication is temporarily unavailable. Try again shortly.'));
      return;
    }
    const client: CdsClient = { authenticated: true, iss: verified.iss, fhirServerAllowed: verified.issuer.fhirServerAllowed };
    if (verified.tenant !== undefined) client.tenant = verified.tenant;
    res.locals.cdsClient = client;
    next();
  };

  return {
    mode: 'required',
    issuers,
    replay,
    middleware,
    audienceBases,
    setListeningPort(p) {
      port = p;
    },
    close: () => replay.close(),
  };
}
