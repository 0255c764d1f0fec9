import type { WithId } from '@medplum/core';
import { created, isOk } from '@medplum/core';
import type { FhirRouteHandler } from '@medplum/fhir-router';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';

/**
 * medplum's MemoryRepository with two fixes a real server has:
 * - a failed transaction leaves nothing behind (MemoryRepository.withTransaction just runs the callback):
 *   every write inside a transaction records the resource's previous state, restored on failure;
 * - `meta.versionId` and `meta.lastUpdated` are always assigned by the server (MemoryRepository keeps
 *   whatever a client sent on create).
 * Transactions cannot interleave with other requests: the repository never waits on I/O, so a
 * transaction runs to completion within one turn of the event loop.
 */
export class TransactionalMemoryRepository extends MemoryRepository {
  private journal: Map<string, { resourceType: string; id: string; before: Resource | undefined }> | undefined;

  override async createResource<T extends Resource>(resource: T): Promise<WithId<T>> {
    // updateResource() also ends up here, with the meta fields already removed
    const { meta, ...rest } = resource;
    const copy = { ...rest, id: resource.id ?? this.generateId() } as T & { id: string };
    if (meta) {
      const { versionId: _v, lastUpdated: _l, ...keep } = meta;
      copy.meta = keep;
    }
    await this.remember(copy.resourceType, copy.id);
    return super.createResource(copy);
  }

  override async deleteResource(resourceType: string, id: string): Promise<void> {
    await this.remember(resourceType, id);
    return super.deleteResource(resourceType, id);
  }

  override async withTransaction<TResult>(callback: (client: undefined) => Promise<TResult>): Promise<TResult> {
    if (this.journal) {
      return callback(undefined); // nested: the outermost transaction rolls back
    }
    const journal = new Map<string, { resourceType: string; id: string; before: Resource | undefined }>();
    this.journal = journal;
    try {
      return await callback(undefined);
    } catch (err) {
      for (const { resourceType, id, before } of [...journal.values()].reverse()) {
        if (before) {
          await super.createResource(before); // keeps the old versionId and lastUpdated
        } else {
          await super.deleteResource(resourceType, id).catch(() => undefined);
        }
      }
      throw err;
    } finally {
      this.journal = undefined;
    }
  }

  private async remember(resourceType: string, id: string): Promise<void> {
    const key = `${resourceType}/${id}`;
    if (this.journal && !this.journal.has(key)) {
      const before = await super.readResource(resourceType, id).catch(() => undefined);
      this.journal.set(key, { resourceType, id, before });
    }
  }
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
