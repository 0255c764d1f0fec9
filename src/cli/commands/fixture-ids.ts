/**
 * Fixture ids on a shared FHIR server. The fixtures' ids are already stable and distinctive (`il6cds-<slug>…`);
 * `--prefix <p>` makes them personal, so two people loading into the public HAPI sandbox never overwrite each
 * other: every id becomes `<p>-<id>` and every reference to it is rewritten the same way. FHIR ids are at most
 * 64 characters; a prefixed id that would be longer is shortened and ends in a hash of the original id, so it
 * stays stable (the same on every run) and unique.
 */
import { createHash } from 'node:crypto';
import type { Bundle } from 'fhir/r4';

export const MAX_ID_LENGTH = 64;
const PREFIX = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;

/** Throws with a message a person can act on when `prefix` cannot start a FHIR id. */
export function checkPrefix(prefix: string): void {
  if (!PREFIX.test(prefix)) {
    throw new Error(`--prefix "${prefix}": use 1-32 letters, digits and inner hyphens (FHIR ids allow [A-Za-z0-9-.] only), e.g. --prefix jdoe`);
  }
}

/** The id a fixture resource gets on the server with this prefix (the id itself without one). */
export function prefixedId(id: string, prefix?: string): string {
  if (!prefix) return id;
  const full = `${prefix}-${id}`;
  if (full.length <= MAX_ID_LENGTH) return full;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 10);
  return `${full.slice(0, MAX_ID_LENGTH - hash.length - 1)}-${hash}`;
}

/**
 * A copy of a transaction Bundle with every resource id, entry `request.url`, `fullUrl` and `reference` to a
 * resource of the bundle rewritten with the prefix. References to resources outside the bundle are left alone.
 */
export function withPrefix<T extends Bundle>(bundle: T, prefix?: string): T {
  if (!prefix) return bundle;
  const ids = new Map<string, string>();
  for (const e of bundle.entry ?? []) {
    const r = e.resource;
    if (r?.id) ids.set(`${r.resourceType}/${r.id}`, `${r.resourceType}/${prefixedId(r.id, prefix)}`);
  }
  const mapRef = (ref: string): string => {
    const m = /^([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})((?:\/_history\/.*)?)$/.exec(ref);
    const to = m ? ids.get(m[1]!) : undefined;
    return to ? `${to}${m![2]}` : ref;
  };
  const walk = (value: unknown, key?: string): unknown => {
    if (Array.isArray(value)) return value.map((v) => walk(v, key));
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, k);
      return out;
    }
    if (typeof value === 'string' && (key === 'reference' || key === 'url' || key === 'fullUrl')) {
      // `url` only inside entry.request (resources' own `url` fields are canonical URLs, never `Type/id`).
      return key === 'url' && !/^[A-Z][A-Za-z]+\//.test(value) ? value : mapRef(value);
    }
    return value;
  };
  const copy = walk(bundle) as T;
  for (const e of copy.entry ?? []) {
    const r = e.resource;
    if (r?.id) r.id = prefixedId(r.id, prefix);
  }
  return copy;
}
