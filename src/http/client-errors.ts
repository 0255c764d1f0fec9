/**
 * Requests Node's HTTP parser rejects before Express sees them (headers too large, malformed request lines,
 * header timeouts) are answered here, so they too get an OperationOutcome a person can act on instead of an
 * empty reply. The connection is closed afterwards: the parser's state cannot be trusted.
 */
import type { Socket } from 'node:net';
import { outcome } from '../outcomes';

interface ParserError extends Error {
  code?: string;
}

const ANSWERS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'The request headers are too large (more than 16 KB). Send a shorter Authorization token and fewer or smaller headers.'],
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
