/**
 * Requests Node's HTTP parser rejects before Express sees them (headers too large, malformed request lines,
 * header timeouts) are answered here, so they too get an OperationOutcome a person can act on instead of an
 * empty reply. The connection is closed afterwards: the parser's state cannot be trusted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestHandler } from 'express';
import { badRequest, outcome } from '../outcomes';

interface ParserError extends Error {
  code?: string;
}

const ANSWERS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'The request line or headers are too large (more than 16 KB). Send a shorter URL, a shorter Authorization token and fewer or smaller headers.'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'The request was not received completely in time; send it again.'],
  ERR_HTTP_HEADERS_TIMEOUT: [408, 'Request Timeout', 'The request headers were not received completely in time; send the request again.'],
};

export function answerClientError(err: ParserError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, diagnostics] = ANSWERS[err.code ?? ''] ?? [400, 'Bad Request', 'The HTTP request is malformed and could not be read.'];
  const body = JSON.stringify(outcome([{ code: status === 408 ? 'timeout' : 'invalid', diagnostics }]));
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * `checkExpectation` listener: an `Expect` header other than 100-continue. Node would answer 417 with an empty
 * body; this answers it with an OperationOutcome.
 */
export function answerUnmetExpectation(_req: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify(outcome([{ code: 'not-supported', diagnostics: 'The Expect header can only be "100-continue"; send the request without it.' }]));
  res.writeHead(417, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Access-Control-Allow-Origin': '*', Connection: 'close' }).end(body);
}

/**
 * HTTP/1.1 requires a Host header. Node would answer a request without one with an empty 400 before Express
 * sees it; the server lets it through (`requireHostHeader: false`) so that it gets an OperationOutcome here.
 */
export const hostRequired: RequestHandler = (req, _res, next) => {
  if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
    next(badRequest('The request has no Host header, which HTTP/1.1 requires; send the host name of the service.'));
    return;
  }
  next();
};
