/** `POST /cds-services/{id}`: calls a CDS service (CDS Hooks 2.0 §calling-a-cds-service). */
import { Router } from 'express';
import { cdsClient, logOrigin } from '../auth';
import { summarizeInvalid } from '../hardening/fhir-r4';
import type { Logger } from '../logger';
import { methodNotAllowed, notFound } from '../outcomes';
import type { CdsService, ServiceRegistry } from '../services/registry';
import { invokeHook, type HookResult, type InvokeOptions } from './invoke';

export interface HookEvent {
  service: CdsService;
  result: HookResult;
  requestId: string;
}

/** Told about every successful hook call (card history, metrics). Must not throw or block. */
export type HookListener = (event: HookEvent) => void;

export interface HookRouterDeps {
  registry: ServiceRegistry;
  logger: Logger;
  invokeOptions: InvokeOptions;
  listeners?: HookListener[];
}

export function hookRouter(deps: HookRouterDeps): Router {
  const router = Router();
  router.post('/cds-services/:id', async (req, res) => {
    const service = deps.registry.get(req.params.id!);
    if (!service) throw notFound(`There is no CDS service "${req.params.id}". GET /cds-services lists the services.`);
    const requestId = res.locals.requestId as string;
    // SSRF guard: fhirServer is contacted (and given the access token) only if the authenticated caller's issuer allows it.
    const client = cdsClient(res);
    const result = await invokeHook(service, req.body, {
      ...deps.invokeOptions,
      fhirServerAllowed: client.fhirServerAllowed,
      onRefusedServer: (url) =>
        deps.logger.warn({ requestId, cdsService: service.id, iss: client.iss, fhirServer: logOrigin(url) }, 'fhirServer not allowed for this client; not contacted'),
    });
    res.type('application/json').send(JSON.stringify(result.response));
    deps.logger.info(
      {
        requestId,
        cdsService: service.id,
        cards: result.response.cards.length,
        resources: result.resourceCount,
        keys: result.keys.map((k) => `${k.key}:${k.source}`),
        ms: Object.fromEntries(Object.entries(result.timings).map(([k, v]) => [k, Math.round(v * 100) / 100])),
      },
      'hook',
    );
    if (result.invalidResources?.length) {
      deps.logger.warn(
        { requestId, cdsService: service.id, invalid: summarizeInvalid(result.invalidResources), problems: result.invalidResources.slice(0, 10) },
        'resources that are not valid FHIR R4 were left out of the evaluation',
      );
    }
    if (result.otherPatientResources?.length) {
      deps.logger.warn(
        { requestId, cdsService: service.id, otherPatient: summarizeInvalid(result.otherPatientResources), problems: result.otherPatientResources.slice(0, 10) },
        'resources about another patient than context.patientId were left out of the evaluation',
      );
    }
    for (const e of result.ruleErrors) deps.logger.warn({ requestId, cdsService: service.id, where: e.where, message: e.message }, 'rule expression failed on a resource');
    for (const listener of deps.listeners ?? []) {
      try {
        listener({ service, result, requestId });
      } catch (err) {
        deps.logger.error({ err, requestId }, 'hook listener failed');
      }
    }
  });
  router.all('/cds-services/:id', (req) => {
    throw methodNotAllowed(req.method, req.path);
  });
  return router;
}
