/**
 * A request id for every call (the client's `X-Request-Id` when it is a sane token, else a new one), echoed
 * in the response, and one structured log line when the response is finished: method, route, status, time.
 * No body, query string, header value or patient identifier is logged.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../logger';

export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    const requestId = given && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const start = performance.now();
    res.on('finish', () => {
      logger.info(
        { requestId, method: req.method, route: req.route?.path ? `${req.baseUrl}${req.route.path}` : req.path, status: res.statusCode, ms: Math.round((performance.now() - start) * 10) / 10 },
        'request',
      );
    });
    next();
  };
}
