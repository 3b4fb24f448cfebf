import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';

/** A connection HTTP is served on (on a TLS server, the TLS socket once its handshake passed). */
export interface HttpConnection {
  readonly socket: Socket;
  /** Requests read on it and not yet answered. */
  active: number;
  /** When a request on it last began or ended (epoch ms). */
  lastMs: number;
  /** The answer to the latest request read on it (the one a pipeline's `Connection: close` belongs on). */
  latest?: ServerResponse;
  /** Set by `endAfterAnswers`: the connection ends once the requests read on it are answered. */
  ending?: boolean;
}

/**
 * The connections of one server and the requests under way on each: the one record the graceful
 * drain (graceful.ts) and the TLS reload (security/tls-reload.ts) both act on, and the one rule
 * both end a connection by (`endAfterAnswers`). One per server (`connectionsOf`), whoever asks first.
 */
export class Connections {
  /** Every open socket, raw TCP and TLS alike: what a finished drain destroys. */
  readonly sockets = new Set<Socket>();
  readonly http = new Map<Socket, HttpConnection>();
  /** Requests under way on the whole server. */
  inFlight = 0;
  private readonly requestHooks: ((res: ServerResponse, connection: HttpConnection | undefined) => void)[] = [];
  /** The answer on each ending connection that says `Connection: close`, and the keep-alive it had before. */
  private readonly closing = new WeakMap<HttpConnection, { res: ServerResponse; keepAlive: boolean }>();

  constructor(server: HttpServer | TlsServer) {
    const opened = (socket: Socket, carriesHttp: boolean) => {
      this.sockets.add(socket);
      if (carriesHttp) this.http.set(socket, { socket, active: 0, lastMs: Date.now() });
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.http.delete(socket);
      });
    };
    server.on('connection', (socket: Socket) => opened(socket, !(server instanceof TlsServer)));
    server.on('secureConnection', (socket: Socket) => opened(socket, true));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.inFlight++;
      const connection = this.http.get(req.socket);
      if (connection) {
        connection.active++;
        connection.lastMs = Date.now();
        connection.latest = res;
        if (connection.ending) this.closeAfter(connection, res);
      }
      for (const hook of this.requestHooks) hook(res, connection);
      res.once('close', () => {
        this.inFlight--;
        if (!connection) return;
        connection.active--;
        connection.lastMs = Date.now();
        // Its last answer said keep-alive (its headers were written, or queued, before it was ending): Node would keep it open.
        if (connection.ending && connection.active === 0) connection.socket.destroySoon();
      });
    });
  }

  /**
   * Ends `connection` once every request read on it, now or later, is answered: the latest answer
   * not yet sent says `Connection: close`, and a request read later (pipelined, or sent before the
   * client saw the close) moves it to its own answer, so none queued behind is cut off. One left
   * idle stays open until its next answer (or until the caller closes it).
   */
  endAfterAnswers(connection: HttpConnection): void {
    connection.ending = true;
    const { active, latest } = connection;
    if (active > 0 && latest && !latest.headersSent) this.closeAfter(connection, latest);
  }

  private closeAfter(connection: HttpConnection, res: ServerResponse): void {
    const earlier = this.closing.get(connection);
    if (earlier?.res === res) return;
    // Node ends the socket after an answer saying close, dropping any pipelined behind it: while
    // the earlier answer is unsent, it gets back the keep-alive it had.
    if (earlier && !earlier.res.headersSent) earlier.res.shouldKeepAlive = earlier.keepAlive;
    this.closing.set(connection, { res, keepAlive: res.shouldKeepAlive });
    res.shouldKeepAlive = false;
  }

  /** Runs for each request read, after it is counted (`connection` is undefined on one accepted before this record existed). */
  onRequest(hook: (res: ServerResponse, connection: HttpConnection | undefined) => void): void {
    this.requestHooks.push(hook);
  }
}

const byServer = new WeakMap<object, Connections>();

/** The one Connections record of `server`, made (and listening) on first use. */
export function connectionsOf(server: HttpServer | TlsServer): Connections {
  let connections = byServer.get(server);
  if (!connections) {
    connections = new Connections(server);
    byServer.set(server, connections);
  }
  return connections;
}
