import type { FhirPathAtom, SearchRequest, WithId } from '@medplum/core';
import { created, deepClone, evalFhirPath, getSearchParameter, globalSchema, isOk, Operator, splitSearchOnComma } from '@medplum/core';
import type { FhirRouteHandler } from '@medplum/fhir-router';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { indexedValue, parsedOnce, searchMatcher } from './match';

type JournalEntry = { resourceType: string; id: string; before: Resource | undefined };

/** A relative reference such as `Patient/p1`: what an indexed reference filter may look for. */
const RELATIVE_REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

/**
 * medplum's MemoryRepository with what a real server adds:
 * - a failed transaction leaves nothing behind (MemoryRepository.withTransaction just runs the callback):
 *   every write inside a transaction records the resource's previous state, restored on failure.
 *   Transactions cannot interleave with other requests: the repository never waits on I/O, so a
 *   transaction runs to completion within one turn of the event loop;
 * - `meta.versionId` and `meta.lastUpdated` are always assigned by the server (MemoryRepository keeps
 *   whatever a client sent on create);
 * - an index of references: MemoryRepository evaluates FHIRPath on every resource of the type
 *   (~15 µs each, so 120 ms per search at 10,000 Observations); searches with a reference filter such
 *   as `patient=Patient/p1` now only look at the resources that contain that reference;
 * - search values computed once per stored resource, as a server indexes them when it writes (`match.ts`):
 *   MemoryRepository parses and evaluates each filter's FHIRPath on every resource of every search, and its
 *   comparator evaluates the sort parameter's FHIRPath for both sides of every comparison.
 */
export class TestServerRepository extends MemoryRepository {
  private journal: Map<string, JournalEntry> | undefined;
  /** reference (`Patient/p1`) -> keys (`Observation/o1`) of the resources containing it */
  private readonly referencedBy = new Map<string, Set<string>>();
  /** key -> the references indexed for it */
  private readonly references = new Map<string, string[]>();

  override async createResource<T extends Resource>(resource: T): Promise<WithId<T>> {
    // updateResource() also ends up here, with the meta fields already removed
    const { meta, ...rest } = resource;
    const copy = { ...rest, id: resource.id ?? this.generateId() } as T & { id: string };
    if (meta) {
      const { versionId: _v, lastUpdated: _l, ...keep } = meta;
      copy.meta = keep;
    }
    await this.remember(copy.resourceType, copy.id);
    return this.store(copy);
  }

  override async deleteResource(resourceType: string, id: string): Promise<void> {
    await this.remember(resourceType, id);
    await super.deleteResource(resourceType, id);
    this.index(`${resourceType}/${id}`, undefined);
  }

  override clear(): void {
    super.clear();
    this.referencedBy.clear();
    this.references.clear();
  }

  override async withTransaction<TResult>(callback: (client: undefined) => Promise<TResult>): Promise<TResult> {
    if (this.journal) {
      return callback(undefined); // nested: the outermost transaction rolls back
    }
    const journal = new Map<string, JournalEntry>();
    this.journal = journal;
    try {
      return await callback(undefined);
    } catch (err) {
      for (const { resourceType, id, before } of [...journal.values()].reverse()) {
        if (before) {
          await this.store(before); // keeps the old versionId and lastUpdated
        } else {
          await super.deleteResource(resourceType, id).catch(() => undefined);
          this.index(`${resourceType}/${id}`, undefined);
        }
      }
      throw err;
    } finally {
      this.journal = undefined;
    }
  }

  /**
   * MemoryRepository.search (medplum 4.5.2) step for step — match, stable sort rule by rule, offset, count,
   * total — over the indexed candidates only, in the repository's own order, with filter values and sort keys
   * computed once per stored resource (`match.ts`; same keys, same comparisons, same order), and copies made
   * of the page only (medplum copies every match first; the copies are equal either way).
   */
  override async search<T extends Resource>(searchRequest: SearchRequest<T>): Promise<Bundle<WithId<T>>> {
    const candidates = this.candidates(searchRequest);
    if (!candidates) {
      return super.search(searchRequest);
    }
    const { resourceType } = searchRequest;
    const matchesSearchRequest = searchMatcher(searchRequest);
    const matches: WithId<T>[] = [];
    for (const resource of this.stored().get(resourceType)?.values() ?? []) {
      if (candidates.has(`${resourceType}/${resource.id}`) && matchesSearchRequest(resource)) {
        matches.push(resource as WithId<T>);
      }
    }
    let page = matches;
    for (const rule of searchRequest.sortRules ?? []) {
      const expression = sortExpression(resourceType, rule.code);
      if (!expression) continue; // medplum's comparator then answers 0 for every pair: a stable sort changes nothing
      const sign = rule.descending ? -1 : 1;
      const keyed = page.map((resource) => ({ resource, key: indexedValue(resource, expression, () => JSON.stringify(evalFhirPath(expression, resource))) }));
      page = keyed.sort((a, b) => a.key.localeCompare(b.key) * sign).map((k) => k.resource);
    }
    if (searchRequest.offset !== undefined) {
      page = page.slice(searchRequest.offset);
    }
    if (searchRequest.count !== undefined) {
      page = page.slice(0, searchRequest.count);
    }
    const entry = page.map((resource) => ({ resource: deepClone(resource) }));
    return { resourceType: 'Bundle', type: 'searchset', entry: entry.length ? entry : undefined, total: matches.length };
  }

  /** MemoryRepository's store: type → id → resource (private there; read here, never written). */
  private stored(): Map<string, Map<string, Resource>> {
    return (this as unknown as { resources: Map<string, Map<string, Resource>> }).resources;
  }

  /** Keys of the resources that can match an equality filter on a reference, or undefined if no filter is one. */
  private candidates(searchRequest: SearchRequest): Set<string> | undefined {
    for (const filter of searchRequest.filters ?? []) {
      const param = getSearchParameter(searchRequest.resourceType, filter.code);
      const values = splitSearchOnComma(filter.value);
      if (param?.type === 'reference' && filter.operator === Operator.EQUALS && values.every((v) => RELATIVE_REFERENCE.test(v))) {
        return new Set(values.flatMap((v) => [...(this.referencedBy.get(v) ?? [])]));
      }
    }
    return undefined;
  }

  private async store<T extends Resource>(resource: T): Promise<WithId<T>> {
    const stored = await super.createResource(resource);
    this.index(`${stored.resourceType}/${stored.id}`, stored);
    return stored;
  }

  /**
   * (Re-)indexes every string in the resource that looks like `Type/id`, and every embedded resource
   * with an id: a superset of the values medplum's reference matching can find in it.
   */
  private index(key: string, resource: Resource | undefined): void {
    for (const ref of this.references.get(key) ?? []) {
      this.referencedBy.get(ref)?.delete(key);
    }
    const found = new Set<string>();
    const crawl = (value: unknown): void => {
      if (typeof value === 'string') {
        if (RELATIVE_REFERENCE.test(value)) found.add(value);
      } else if (Array.isArray(value)) {
        value.forEach(crawl);
      } else if (typeof value === 'object' && value !== null) {
        const { resourceType, id } = value as { resourceType?: unknown; id?: unknown };
        if (typeof resourceType === 'string' && typeof id === 'string') found.add(`${resourceType}/${id}`);
        Object.values(value).forEach(crawl);
      }
    };
    crawl(resource);
    this.references.set(key, [...found]);
    for (const ref of found) {
      let keys = this.referencedBy.get(ref);
      if (!keys) this.referencedBy.set(ref, (keys = new Set()));
      keys.add(key);
    }
    if (!resource) this.references.delete(key);
  }

  private async remember(resourceType: string, id: string): Promise<void> {
    const key = `${resourceType}/${id}`;
    if (this.journal && !this.journal.has(key)) {
      const before = await super.readResource(resourceType, id).catch(() => undefined);
      this.journal.set(key, { resourceType, id, before });
    }
  }
}

/** The expression MemoryRepository's comparator sorts by, parsed; undefined when the parameter has none. */
function sortExpression(resourceType: string, code: string): FhirPathAtom | undefined {
  const expression = globalSchema.types[resourceType]?.searchParams?.[code]?.expression;
  return expression ? parsedOnce(expression) : undefined;
}

/**
 * A FhirRouter whose update (`PUT Type/id`) answers 201 Created when the resource did not exist.
 * MemoryRepository already creates it under the client's id, but medplum's handler always says 200.
 * The handler is replaced in place because router.add() cannot override it: among routes that
 * match equally well, the first one added wins.
 */
export function createRouter(): FhirRouter {
  const router = new FhirRouter();
  const route = router.router.routes.find(
    (r) => r.method === 'PUT' && r.path.length === 2 && r.path.every((segment) => segment.param),
  );
  if (!route) {
    throw new Error('FhirRouter has no PUT :resourceType/:id route');
  }
  const update: FhirRouteHandler = route.handler;
  route.handler = async (req, repo, r, options) => {
    const { resourceType = '', id = '' } = req.params;
    const existed = await repo.readResource(resourceType, id).then(
      () => true,
      () => false,
    );
    const response = await update(req, repo, r, options);
    return !existed && isOk(response[0]) && response[1] ? [created, response[1]] : response;
  };
  return router;
}
