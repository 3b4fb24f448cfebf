import type { Server as HttpServer } from 'node:http';
import { Server as NetServer } from 'node:net';
import { connectionsOf } from './connections.js';

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
  const connections = connectionsOf(server);
  let draining = false;
  connections.onRequest((res, connection) => {
    if (!draining) return;
    // A connection accepted just before the listener stopped (its handshake finished since) ends too.
    if (connection) connections.endAfterAnswers(connection);
    else res.shouldKeepAlive = false;
  });

  /** Resolves once every request has been answered and every socket closed. */
  return function close(): Promise<void> {
    draining = true;
    // An answer under way since before the drain says `Connection: close` too: else its client may
    // reuse the connection for a request sent just as the socket is closed, and lose it.
    for (const connection of connections.http.values()) connections.endAfterAnswers(connection);
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
          for (const { socket, active, lastMs } of connections.http.values()) if (active === 0 && now - lastMs >= graceMs) socket.destroy();
          if (connections.inFlight > 0) return;
          clearInterval(timer);
          for (const socket of connections.sockets) socket.destroy();
        });
      }, 50);
    });
  };
}
