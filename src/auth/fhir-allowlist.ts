/**
 * The SSRF guard (checklist item 55): which `fhirServer` URLs this service may contact, and hand the EHR's
 * access token to, for one calling issuer. A request's `fhirServer` is allowed when it lies at or below one
 * of the issuer's configured base URLs: same scheme, same host (case-insensitive), same port (default ports
 * normalised) and a path equal to the base path or below it (`https://ehr.example/fhir` allows
 * `https://ehr.example/fhir` and `https://ehr.example/fhir/r4`, not `https://ehr.example/fhirx` or
 * `https://ehr.example/`). URLs with user info, a query or a fragment are never allowed.
 *
 * The development default (no issuers file, or `AUTH=disabled`) is loopback hosts on any port plus the
 * public HAPI R4 server.
 */

/** Public HAPI FHIR R4 server: allowed in development only (through the development default). */
export const HAPI_R4_BASE = 'https://hapi.fhir.org/baseR4';

export type FhirServerAllowed = (url: string) => boolean;

interface Base {
  protocol: string;
  hostname: string;
  port: string;
  path: string;
}

function parse(url: string): Base | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  if (u.username || u.password || u.search || u.hash || url.includes('#') || url.includes('?')) return undefined;
  // `new URL` already lower-cases the host, drops default ports and resolves dot segments.
  const path = u.pathname.replace(/\/+$/, '');
  return { protocol: u.protocol, hostname: u.hostname, port: u.port, path };
}

function below(candidate: Base, base: Base): boolean {
  return (
    candidate.protocol === base.protocol &&
    candidate.hostname === base.hostname &&
    candidate.port === base.port &&
    (candidate.path === base.path || candidate.path.startsWith(`${base.path}/`))
  );
}

/** Throws on an entry that is not an absolute http(s) base URL without user info, query or fragment. */
export function checkBaseUrl(entry: string): void {
  if (!parse(entry)) throw new Error(`"${entry}" is not an absolute http(s) base URL without user info, query or fragment`);
}

/** A matcher over configured base URLs (see the module comment). Invalid entries throw. */
export function fhirServerMatcher(bases: readonly string[]): FhirServerAllowed {
  const parsed = bases.map((b) => {
    const p = parse(b);
    if (!p) throw new Error(`"${b}" is not an absolute http(s) base URL without user info, query or fragment`);
    return p;
  });
  return (url: string) => {
    if (typeof url !== 'string' || url.length > 2048) return false;
    const candidate = parse(url);
    return candidate !== undefined && parsed.some((b) => below(candidate, b));
  };
}

const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * `localhost`, 127.0.0.0/8 and ::1, over http or https, any port. (`*.localhost` is left out: whether it
 * resolves to loopback depends on the resolver.)
 */
export function isLoopbackUrl(url: string): boolean {
  const p = parse(url);
  if (!p) return false;
  const h = p.hostname;
  return h === 'localhost' || LOOPBACK_V4.test(h) || h === '[::1]';
}

const hapi = fhirServerMatcher([HAPI_R4_BASE]);

/** The development default: loopback hosts and the public HAPI R4 sandbox. */
export const devDefaultFhirServers: FhirServerAllowed = (url) => isLoopbackUrl(url) || hapi(url);

/** The origin of a URL for log lines (never the path, which may name a patient, or a token). */
export function logOrigin(url: unknown): string {
  try {
    return new URL(String(url)).origin;
  } catch {
    return '(not a URL)';
  }
}
