/** `GET /cds-services`: the discovery document (CDS Hooks 2.0 §discovery). */
import { Router } from 'express';
import type { DiscoveryResponse } from '../cds-hooks/types';
import type { ServiceRegistry } from '../services/registry';

export function discoveryRouter(registry: ServiceRegistry): Router {
  const router = Router();
  const body: DiscoveryResponse = { services: registry.definitions() };
  const json = JSON.stringify(body);
  router.get('/cds-services', (_req, res) => {
    res.type('application/json').send(json);
  });
  return router;
}
