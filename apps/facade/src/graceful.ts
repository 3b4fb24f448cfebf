import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';

/**
 * Graceful shutdown of an HTTP(S) server. Node's own `server.close()` also closes connections it
 * thinks idle — including a freshly accepted one whose request has not been read yet, which the
 * caller sees as a dropped connection. Here the listener stops accepting; every request already
 * received is answered, with `Connection: close`; a request that still arrives on an open
 * connection is answered too (the app answers it 503 at once: app.ts, `draining`); a connection that
 * has carried no request for a short grace period is closed, so no kept-alive connection stays open
 * for a request to arrive on late in the drain; and once nothing is in flight every socket is closed.
 */
export function gracefulCloser(server: HttpServer, graceMs = 500) {
  const sockets = new Set<Socket>();
  /** Sockets that carry HTTP (TLS sockets on a TLS server): requests under way and when one last moved. */
  const http = new Map<Socket, { active: number; lastMs: number }>();
  let inFlight = 0;
  let draining = false;

  const carriesHttp = (socket: Socket) => {
    http.set(socket, { active: 0, lastMs: Date.now() });
    socket.once('close', () => http.delete(socket));
  };
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (!(server instanceof TlsServer)) carriesHttp(socket);
  });
  // TLS servers hand over the TLS socket on 'secureConnection'.
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    carriesHttp(socket);
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    const state = http.get(req.socket);
    if (state) {
      state.active++;
      state.lastMs = Date.now();
    }
    if (draining) res.shouldKeepAlive = false;
    res.once('close', () => {
      inFlight--;
      if (state) {
        state.active--;
        state.lastMs = Date.now();
      }
    });
  });

  /** Resolves once every request has been answered and every socket closed. */
  return function close(): Promise<void> {
    draining = true;
    const started = Date.now();
    return new Promise((resolve) => {
      // Stop accepting without Node's eager closing of "idle" connections.
      NetServer.prototype.close.call(server, () => resolve());
      const timer = setInterval(() => {
        if (Date.now() - started < graceMs) return;
        // Timers run before the poll phase: a request already sitting in a socket's buffer (the
        // process was busy) is only read in that phase. setImmediate runs after it, so such a
        // request is counted before its socket could be taken for idle.
        setImmediate(() => {
          const now = Date.now();
          for (const [socket, state] of http) if (state.active === 0 && now - state.lastMs >= graceMs) socket.destroy();
          if (inFlight > 0) return;
          clearInterval(timer);
          for (const socket of sockets) socket.destroy();
        });
      }, 50);
    });
  };
}
