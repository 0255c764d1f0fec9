import { badRequest, getSearchParameter, OperationOutcomeError } from '@medplum/core';
import type { Bundle, BundleLink } from '@medplum/fhirtypes';

/** Search parameter types medplum's in-memory matcher implements (number, quantity, composite, special: no). */
const MATCHABLE_TYPES = new Set(['reference', 'string', 'token', 'date', 'uri']);
/** Modifiers the matcher honours; anything else (`:exact`, `:text`, `:in`, `:Patient`...) it would get wrong. */
const MATCHABLE_MODIFIERS = new Set(['', 'missing', 'not', 'contains']);
/** Result parameters that do not change which resources match; dropped without comment. */
const FORMAT_PARAMS = new Set(['_format', '_pretty', '_total']);

export interface PreparedSearch {
  /** The parameters this server applies, as echoed in the `self` link. */
  readonly applied: URLSearchParams;
  /** The same, rewritten for medplum's matcher. */
  readonly forRouter: URLSearchParams;
  /** Parameters this server does not support (e.g. `_include`, `value-quantity`). */
  readonly unsupported: string[];
  readonly offset: number;
  readonly count: number | undefined;
}

/**
 * Splits a search's parameters into those the server applies and those it does not support, so
 * that it behaves like a FHIR server lacking a feature: the spec's default ("lenient") handling
 * ignores unsupported parameters and leaves them out of the `self` link. Medplum itself would
 * instead treat an unsupported filter as matching nothing.
 */
export function prepareSearch(resourceType: string, params: URLSearchParams): PreparedSearch {
  const applied = new URLSearchParams();
  const forRouter = new URLSearchParams();
  const unsupported: string[] = [];
  let offset = 0;
  let count: number | undefined;

  for (const [key, value] of params) {
    const [code = '', modifier = ''] = key.split(':', 2);
    if (FORMAT_PARAMS.has(key)) {
      continue;
    }
    if (key === '_count' || key === '_offset') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) {
        throw new OperationOutcomeError(badRequest(`${key} must be a non-negative integer`));
      }
      if (key === '_count') count = n;
      else offset = n;
      continue; // paging parameters are added below, once
    }
    if (key === '_sort') {
      const codes = value.split(',').map((c) => c.replace(/^-/, ''));
      if (!codes.every((c) => isMatchable(resourceType, c))) {
        unsupported.push(key);
        continue;
      }
      applied.append(key, value);
      // Medplum applies sort keys one after another with a stable sort, so the last key ends up
      // as the primary one. Reversing the keys gives FHIR's order (first key primary).
      forRouter.append(key, value.split(',').reverse().join(','));
      continue;
    }
    if (key === '_summary' && value === 'count') {
      applied.append(key, value);
      forRouter.append(key, value);
      continue;
    }
    if (key.includes('.') || !MATCHABLE_MODIFIERS.has(modifier) || !isMatchable(resourceType, code)) {
      unsupported.push(key);
      continue;
    }
    applied.append(key, value);
    forRouter.append(key, withTypedReferences(resourceType, code, modifier, value));
  }

  for (const [key, value] of [
    ['_count', count],
    ['_offset', offset || undefined],
  ] as const) {
    if (value !== undefined) {
      applied.set(key, String(value));
      forRouter.set(key, String(value));
    }
  }
  return { applied, forRouter, unsupported, offset, count };
}

export function isMatchableType(type: string | undefined): boolean {
  return MATCHABLE_TYPES.has(type ?? '');
}

function isMatchable(resourceType: string, code: string): boolean {
  return isMatchableType(getSearchParameter(resourceType, code)?.type);
}

/**
 * FHIR allows a reference search by bare id (`patient=123`); medplum only matches `Patient/123`.
 * Expand bare ids to every target type: `subject=123` becomes `subject=Patient/123,Group/123,...`.
 */
function withTypedReferences(resourceType: string, code: string, modifier: string, value: string): string {
  const param = getSearchParameter(resourceType, code);
  if (param?.type !== 'reference' || modifier !== '' || !param.target?.length) {
    return value;
  }
  return value
    .split(',')
    .flatMap((v) => (v.includes('/') || v.includes(':') ? [v] : (param.target ?? []).map((t) => `${t}/${v}`)))
    .join(',');
}

/**
 * Adds what medplum leaves out of a searchset: `fullUrl` and `search.mode` on every entry, and the
 * `self`/`previous`/`next` links clients use to page through the results (paging by `_offset`).
 */
export function completeSearchset(bundle: Bundle, base: string, resourceType: string, search: PreparedSearch): void {
  for (const entry of bundle.entry ?? []) {
    if (entry.resource?.id) {
      entry.fullUrl = `${base}/${entry.resource.resourceType}/${entry.resource.id}`;
    }
    entry.search = { mode: 'match' };
  }
  const pageUrl = (offset: number): string => {
    const params = new URLSearchParams(search.applied);
    params.delete('_offset');
    if (offset > 0) {
      params.set('_offset', String(offset));
    }
    const query = params.toString();
    return `${base}/${resourceType}${query ? '?' + query : ''}`;
  };
  const link: BundleLink[] = [{ relation: 'self', url: pageUrl(search.offset) }];
  const { count, offset } = search;
  if (count !== undefined && count > 0 && search.applied.get('_summary') !== 'count') {
    if (offset > 0) {
      link.push({ relation: 'previous', url: pageUrl(Math.max(0, offset - count)) });
    }
    if (bundle.total !== undefined && offset + count < bundle.total) {
      link.push({ relation: 'next', url: pageUrl(offset + count) });
    }
  }
  bundle.link = link;
}
