/**
 * Feedback (CDS Hooks 2.0 §feedback, checklist 57–59) and what it says:
 *   - `POST /cds-services/{id}/feedback`: validated, stored durably, then 200 `{"stored": n, "unknownCards": k}`.
 *     Feedback for a card uuid this service never issued is stored and flagged (`unknownCards`), not dropped.
 *   - `GET /cds-services/{id}/feedback/summary?from=&to=`: per finding code, rule-set version and profile, the
 *     cards issued, accepted, overridden (by reason) and the acceptance rate (see `store/summary.ts`).
 * Both live under `/cds-services`, so the authentication of the other `/cds-services` routes covers them.
 */
import { Router } from 'express';
import type { Logger } from '../logger';
import { methodNotAllowed, notFound } from '../outcomes';
import type { CdsService, ServiceRegistry } from '../services/registry';
import type { Store, Summary } from '../store/types';
import { parseFeedback, parseRange } from './parse';

export interface FeedbackRouterDeps {
  registry: ServiceRegistry;
  store: Store;
  logger: Logger;
  /** Whether a card was issued here and its history row is still queued (see `CardHistoryRecorder.isPending`). */
  isCardPending?: (cardUuid: string) => boolean;
  now?: () => number;
}

export function feedbackRouter(deps: FeedbackRouterDeps): Router {
  const router = Router();
  const now = deps.now ?? Date.now;
  const serviceOf = (id: string): CdsService => {
    const service = deps.registry.get(id);
    if (!service) throw notFound(`There is no CDS service "${id}". GET /cds-services lists the services.`);
    return service;
  };

  router.post('/cds-services/:id/feedback', async (req, res) => {
    const service = serviceOf(req.params.id!);
    const records = parseFeedback(req.body, service.id, now());
    if (deps.isCardPending) for (const r of records) if (deps.isCardPending(r.cardUuid)) r.cardPendingLocally = true;
    const result = await deps.store.recordFeedback(records);
    const requestId = res.locals.requestId as string | undefined;
    deps.logger.info(
      {
        requestId,
        cdsService: service.id,
        items: result.stored,
        accepted: records.filter((r) => r.outcome === 'accepted').length,
        overridden: records.filter((r) => r.outcome === 'overridden').length,
        unknownCards: result.unknownCards,
      },
      'feedback stored',
    );
    if (result.unknownCards > 0) deps.logger.warn({ requestId, cdsService: service.id, unknownCards: result.unknownCards }, 'feedback for cards this service never issued (stored and flagged)');
    res.status(200).type('application/json').send(JSON.stringify(result));
  });
  router.all('/cds-services/:id/feedback', (req) => {
    throw methodNotAllowed(req.method, req.path);
  });

  router.get('/cds-services/:id/feedback/summary', async (req, res) => {
    const service = serviceOf(req.params.id!);
    const range = parseRange(req.query.from, req.query.to);
    const summary = await deps.store.summary({ serviceId: service.id, ...range });
    res.set('cache-control', 'no-store').type('application/json').send(JSON.stringify(withReasonDisplays(summary, [service])));
  });
  router.all('/cds-services/:id/feedback/summary', (req) => {
    throw methodNotAllowed(req.method, req.path);
  });
  return router;
}

/** Fills a missing reason display (the sandbox sends none) from the override reasons the services' cards offer. */
export function withReasonDisplays(summary: Summary, services: CdsService[]): Summary {
  const displays = new Map<string, string>();
  for (const s of services) for (const r of s.ruleSet.def.overrideReasons) displays.set(`${r.system}|${r.code}`, r.display);
  for (const row of summary.findings) {
    for (const reason of row.overriddenByReason) {
      if (reason.display === undefined && reason.code !== null) {
        const display = displays.get(`${reason.system}|${reason.code}`);
        if (display !== undefined) reason.display = display;
      }
    }
  }
  return summary;
}
