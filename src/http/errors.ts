/**
 * The single place where errors become HTTP responses. Every non-2xx body is a FHIR OperationOutcome;
 * clients never see a stack trace or internal detail, and no client mistake is answered with 500.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Logger } from '../logger';
import { logPath } from './request-log';
import { badRequest, internalError, isOperationOutcomeError, notFound, OperationOutcomeError, payloadTooLarge, unsupportedMediaType } from '../outcomes';

export function sendOutcome(res: Response, err: OperationOutcomeError): void {
  res.status(err.status).type('application/json').send(JSON.stringify(err.outcome));
}

/** Final handler for routes nobody serves. */
export const notFoundHandler: RequestHandler = (req, res) => {
  sendOutcome(res, notFound(`No resource at ${req.method} ${req.path}. CDS services are listed at GET /cds-services.`));
};

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
  message?: string;
  /** The raw body, on a parse failure. */
  body?: unknown;
}

/** Maps body-parser failures to client errors with a message a person can act on. */
function fromBodyParser(err: BodyParserError, limitBytes: number): OperationOutcomeError | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return payloadTooLarge(err.limit ?? limitBytes);
    case 'entity.parse.failed':
      // Strict parsing refuses a lone value (`null`, `5`, `"x"`) with a parse error, though it is valid JSON.
      if (isJsonScalar(err.body)) return badRequest('The request body must be a JSON object, not a single JSON value: a CDS Hooks request with hook, hookInstance and context.');
      return badRequest(`The request body is not valid JSON (${(err.message ?? '').replace(/^.*?: /, '').slice(0, 200)}).`);
    case 'encoding.unsupported':
      return unsupportedMediaType('This Content-Encoding is not supported; send the body uncompressed, or compressed with gzip, deflate or br.');
    case 'charset.unsupported':
      return unsupportedMediaType('The request body must be UTF-8 encoded JSON; send it as UTF-8 (charset=utf-8 or no charset).');
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'request.aborted':
      return badRequest('The request body could not be read completely.');
    default:
      return typeof err.status === 'number' && err.status >= 400 && err.status < 500 ? badRequest('The request could not be read.') : undefined;
  }
}

function isJsonScalar(body: unknown): boolean {
  if (typeof body !== 'string') return false;
  try {
    const value: unknown = JSON.parse(body);
    return value === null || typeof value !== 'object';
  } catch {
    return false;
  }
}

export function errorHandler(logger: Logger, limitBytes: number): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    let outcome = isOperationOutcomeError(err) ? err : fromBodyParser(err as BodyParserError, limitBytes);
    if (!outcome) {
      const requestId = res.locals.requestId as string | undefined;
      logger.error({ err, requestId, method: req.method, route: req.route?.path ? `${req.baseUrl}${req.route.path}` : logPath(req.path) }, 'internal error');
      outcome = internalError(requestId);
    }
    sendOutcome(res, outcome);
  };
}
