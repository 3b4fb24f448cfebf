import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

/**
 * Graceful shutdown of an HTTP(S) server. Node's own `server.close()` also closes connections it
 * thinks idle — including a freshly accepted one whose request has not been read yet, which the
 * caller sees as a dropped connection. Here the listener stops accepting, every request already
 * received or arriving on an open connection within a short grace period is answered (with
 * `Connection: close`), and only then are the remaining idle sockets closed.
 */
export function gracefulCloser(server: HttpServer, graceMs = 500) {
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let draining = false;

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // TLS servers hand over the TLS socket on 'secureConnection'.
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    if (draining) res.shouldKeepAlive = false;
    res.once('close', () => inFlight--);
  });

  /** Resolves once every request has been answered and every socket closed. */
  return function close(): Promise<void> {
    draining = true;
    const started = Date.now();
    return new Promise((resolve) => {
      // Stop accepting without Node's eager closing of "idle" connections.
      NetServer.prototype.close.call(server, () => resolve());
      const timer = setInterval(() => {
        if (inFlight > 0 || Date.now() - started < graceMs) return;
        // Timers run before the poll phase: a request already sitting in a socket's buffer (the
        // process was busy) is only read in that phase. setImmediate runs after it, so such a
        // request is counted in flight before the idle sockets are closed.
        setImmediate(() => {
          if (inFlight > 0) return;
          clearInterval(timer);
          for (const socket of sockets) socket.destroy();
        });
      }, 50);
    });
  };
}
