/**
 * The benchmark's floor (`BENCH_FLOOR=on`; refused in production): `POST /cds-services/_floor` reads the body
 * like a hook call and answers one fixed card. It is mounted in the same app, behind the same middleware as
 * the hook route (security headers, request log, metrics, CORS, authentication, JSON parsing and its shape
 * guard), so what it costs is HTTP and JSON alone — the floor `npm run bench` compares the service with.
 */
import { Router } from 'express';
import { badRequest } from '../outcomes';

export const BENCH_FLOOR_PATH = '/cds-services/_floor';

const FIXED = JSON.stringify({
  cards: [
    {
      uuid: '00000000-0000-4000-8000-000000000000',
      summary: 'Benchmark floor: HTTP and JSON only',
      indicator: 'info',
      source: { label: 'il6-cds benchmark floor' },
    },
  ],
});

export function benchFloorRouter(): Router {
  const router = Router();
  router.post(BENCH_FLOOR_PATH, (req, res) => {
    if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) throw badRequest('The request body must be a JSON object.');
    res.type('application/json').send(FIXED);
  });
  return router;
}
