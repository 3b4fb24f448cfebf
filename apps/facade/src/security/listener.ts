import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { getRequestListener, RequestError } from '@hono/node-server';
import { type IssueType, operationOutcome, problem } from '@booking/fhir';
import type { AuditLog } from '../audit/log.js';
import type { FacadeMetrics } from '../observability/metrics.js';
import { type ConnectionLimits, limitConnections, rawSocketOf, throttledLog } from './connection-limits.js';
import { securityHeaderFields } from './setup.js';
import { type AllowList, enforceAllowList } from './tls.js';

/**
 * The consumer-facing listener: HTTPS with client certificates (or plain HTTP when configured
 * explicitly), a bounded request head, bounded connections (connection-limits.ts), a short TLS
 * handshake timeout, and answers of our own for what Node refuses before Hono sees a request
 * (oversized headers → 431, malformed HTTP → 400), each audited and carrying the same hardening
 * headers as every other answer. A socket whose TLS handshake never finished (timed out, refused)
 * is destroyed: no HTTP answer could reach it, so none is written or audited; the refusal is
 * logged with the client's address.
 */

export interface ListenerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ConsumerListenerOptions {
  fetch: Parameters<typeof getRequestListener>[0];
  hostname: string;
  port: number;
  maxHeaderBytes: number;
  /** How long an idle connection waits for its next request (Node's 5 s default is below common proxies' idle timeouts). */
  keepAliveTimeoutMs: number;
  /** Absent: plain HTTP. `allowList` is read at each handshake (it may be reloaded). */
  tls?: { serverOptions: import('node:https').ServerOptions; allowList: () => AllowList; handshakeTimeoutMs: number };
  limits: ConnectionLimits;
  audit: AuditLog;
  logger: ListenerLogger;
  /** Counts the answers written here in booking_http_requests_total (interaction `none`), as observability/request.ts counts the rest. */
  metrics?: Pick<FacadeMetrics, 'request'>;
  onListening?: (info: { address: string; port: number }) => void;
}

export function serveConsumer(options: ConsumerListenerOptions) {
  const { tls, audit, logger } = options;
  const record = (event: 'tls-refused' | 'client-error', fields: { status: number | null; outcome: string; requestId?: string; clientAddress?: string | undefined; clientCertCn?: string | undefined; clientCertSha256?: string | undefined }) =>
    audit.write({ time: new Date().toISOString(), event, interaction: 'unknown', ...fields }).catch((error: Error) => logger.error({ err: error.message }, 'AUDIT WRITE FAILED'));

  // The hardening headers of every other answer, for the answers written below by hand.
  const hardening = securityHeaderFields(tls !== undefined);
  // Logged and counted as observability/request.ts does every other answer: no route was reached, so interaction `none`.
  const answered = (fields: { requestId: string; status: number; reason: string | undefined; err?: string }, started: number) => {
    const seconds = (performance.now() - started) / 1000;
    options.metrics?.request('none', fields.status, seconds);
    logger[fields.status >= 500 ? 'error' : 'info']({ ...fields, interaction: 'none', ms: Math.round(seconds * 1000) }, 'request answered by the listener');
  };

  // @hono/node-server's own listener (what serve() uses), given an errorHandler so that a request
  // it cannot turn into a Request (e.g. a backslash in the path, no Host) gets an OperationOutcome.
  const listener = getRequestListener(options.fetch, {
    hostname: options.hostname,
    errorHandler: async (error) => {
      const started = performance.now();
      const malformed = error instanceof RequestError;
      const answer = outcomeResponse(malformed ? 400 : 500, malformed ? 'structure' : 'exception', malformed ? 'The request is not well-formed' : 'Unexpected error in the facade', await hardening);
      const requestId = answer.headers.get('X-Request-ID') as string;
      // Durable before the answer, as every other answer's record (audit/middleware.ts).
      await record('client-error', { status: answer.status, outcome: malformed ? 'MESSAGE_NOT_WELL_FORMED' : 'INTERNAL_SERVER_ERROR', requestId });
      answered({ requestId, status: answer.status, reason: malformed ? 'MESSAGE_NOT_WELL_FORMED' : 'INTERNAL_SERVER_ERROR', ...(malformed ? {} : { err: String((error as Error)?.message ?? error).slice(0, 300) }) }, started);
      return answer;
    },
  });
  // requireHostHeader off: Node would answer a missing Host with an empty 400; the adapter refuses it too, through errorHandler.
  const http = { maxHeaderSize: options.maxHeaderBytes, requireHostHeader: false };
  const server = tls ? createHttpsServer({ ...tls.serverOptions, handshakeTimeout: tls.handshakeTimeoutMs, ...http }, listener) : createHttpServer(http, listener);
  const refusedLog = throttledLog(10_000, (clientAddress, reason, refused) =>
    logger.warn({ clientAddress, reason, refused, limits: options.limits }, 'connection refused: connection limit reached (logged once per address and reason every 10 s)'),
  );
  // A proxy that keeps idle upstream connections longer than this may send a request on one the
  // facade is closing, and its consumer gets an error: the timeout is kept above the proxy's.
  server.keepAliveTimeout = options.keepAliveTimeoutMs;
  limitConnections(server, options.limits, tls !== undefined, refusedLog);
  /** TLS sockets whose handshake completed: only these can be answered in HTTP. */
  const secured = new WeakSet<object>();
  server.listen(options.port, options.hostname, () => listening(server.address() as AddressInfo));

  function listening(info: { address: string; port: number }) {
    if (tls) {
      logger.info({ host: info.address, port: info.port, minVersion: tls.serverOptions.minVersion }, 'consumer listener on HTTPS with client certificates (mutual TLS)');
    } else {
      logger.warn(
        { host: info.address, port: info.port },
        '!!! INSECURE: consumer listener on PLAIN HTTP (FACADE_TLS=off): no TLS, no client certificates. Only for the embedded demo and tests; never in a trust. !!!',
      );
    }
    options.onListening?.(info);
  }

  if (tls) {
    server.prependListener('secureConnection', (socket: TLSSocket) => secured.add(socket));
    enforceAllowList(server as unknown as TlsServer, tls.allowList, (socket, identity) => {
      const who = { clientAddress: socket.remoteAddress, clientCertCn: identity?.commonNames[0], clientCertSha256: identity?.fingerprint256 };
      logger.warn(who, 'TLS client certificate not on FACADE_TLS_ALLOWED_CLIENTS (or its subject has more than one CN): connection closed');
      void record('tls-refused', { status: null, outcome: 'ACCESS_DENIED_SSL', ...who });
    });
    // Handshake failures: no certificate or an old protocol (OpenSSL's alert), a certificate that
    // does not verify (unknown CA, expired: Node destroys the socket, authorizationError says why),
    // or no handshake within the timeout. The address is read from the TCP socket: the TLS socket
    // may already be destroyed, and with it its remoteAddress.
    server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
      const reason = socket.authorizationError ? String(socket.authorizationError) : error.message.split('\n')[0]?.slice(0, 200);
      logger.warn({ clientAddress: rawSocketOf(socket).remoteAddress, code: socket.authorizationError ?? error.code, reason }, 'TLS handshake refused');
      socket.destroy();
    });
  }

  // Node answers these without a body and, without a listener, Hono never hears of them.
  // On HTTPS, Node also reports TLS handshake failures here (the socket never reached HTTP): those
  // are only destroyed. Writing an answer to them kept them open forever, waiting for a handshake.
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex & { remoteAddress?: string; _httpMessage?: { headersSent?: boolean } }) => {
    if ((tls && !secured.has(socket)) || error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const started = performance.now();
    const [status, code, text] = clientErrorAnswer(error.code, options.maxHeaderBytes);
    const id = randomUUID();
    const body = JSON.stringify(operationOutcome(problem(status, code, 'BAD_REQUEST', text), id));
    const clientAddress = socket.remoteAddress;
    // The record is durable before the answer, as every other answer's (audit/middleware.ts).
    void Promise.all([hardening, record('client-error', { status, outcome: error.code ?? 'BAD_REQUEST', requestId: id, clientAddress })]).then(([headers]) => {
      if (!socket.writable) return socket.destroy();
      const extra = headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
      socket.end(
        `HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/fhir+json;charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Cache-Control: no-store\r\n${extra}X-Request-ID: ${id}\r\nConnection: close\r\n\r\n${body}`,
      );
      answered({ requestId: id, status, reason: error.code ?? 'BAD_REQUEST' }, started);
    });
  });

  return server;
}

function outcomeResponse(status: number, code: IssueType, text: string, hardening: [string, string][]): Response {
  const id = randomUUID();
  const headers = new Headers(hardening);
  for (const [name, value] of Object.entries({ 'Content-Type': 'application/fhir+json;charset=utf-8', 'Cache-Control': 'no-store', 'X-Request-ID': id })) headers.set(name, value);
  return new Response(JSON.stringify(operationOutcome(problem(status, code, status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST', text), id)), { status, headers });
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' };

function clientErrorAnswer(code: string | undefined, maxHeaderBytes: number): [number, IssueType, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'too-long', `The request line and headers exceed ${maxHeaderBytes} bytes`];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'too-long', 'The chunk extensions are too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'transient', 'The request was not received in time'];
    default:
      return [400, 'structure', 'The request is not well-formed HTTP/1.1'];
  }
}
