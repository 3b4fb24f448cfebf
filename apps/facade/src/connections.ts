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
}

/**
 * The connections of one server and the requests under way on each: the one record the graceful
 * drain (graceful.ts) and the TLS reload (security/tls-reload.ts) both act on. One per server
 * (`connectionsOf`), whoever asks first.
 */
export class Connections {
  /** Every open socket, raw TCP and TLS alike: what a finished drain destroys. */
  readonly sockets = new Set<Socket>();
  readonly http = new Map<Socket, HttpConnection>();
  /** Requests under way on the whole server. */
  inFlight = 0;
  private readonly requestHooks: ((res: ServerResponse, connection: HttpConnection | undefined) => void)[] = [];
  private readonly answerHooks: ((connection: HttpConnection) => void)[] = [];

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
      }
      for (const hook of this.requestHooks) hook(res, connection);
      res.once('close', () => {
        this.inFlight--;
        if (!connection) return;
        connection.active--;
        connection.lastMs = Date.now();
        for (const hook of this.answerHooks) hook(connection);
      });
    });
  }

  /** Runs for each request read, after it is counted (`connection` is undefined on one accepted before this record existed). */
  onRequest(hook: (res: ServerResponse, connection: HttpConnection | undefined) => void): void {
    this.requestHooks.push(hook);
  }

  /** Runs when an answer on a tracked connection is done (written or cut off), after it is counted. */
  onAnswered(hook: (connection: HttpConnection) => void): void {
    this.answerHooks.push(hook);
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
