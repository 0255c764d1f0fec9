/**
 * A request id for every call (the client's `X-Request-Id` when it is a sane token, else a new one), echoed
 * in the response, and one structured log line when the response is finished: method, route, status, time.
 * No body, query string, header value or patient identifier is logged.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../logger';

/**
 * The path for a log line when no route matched: only its first segment, because the rest is whatever the
 * client sent (`/fhir/Patient/<id>`…) and may identify a patient.
 */
export function logPath(path: string): string {
  const first = /^\/[A-Za-z0-9._-]{0,40}/.exec(path)?.[0] ?? '/';
  if (path.length === first.length) return first;
  return first === '/' ? '/…' : `${first}/…`;
}

export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    const requestId = given && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const start = performance.now();
    res.on('finish', () => {
      logger.info(
        { requestId, method: req.method, route: req.route?.path ? `${req.baseUrl}${req.route.path}` : logPath(req.path), status: res.statusCode, ms: Math.round((performance.now() - start) * 10) / 10 },
        'request',
      );
    });
    next();
  };
}
