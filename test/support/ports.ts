import { createServer } from 'node:net';

/**
 * Below Linux's ephemeral range (32768–60999 by default), from which the kernel picks the local
 * port of every outgoing connection. A port the kernel handed out with listen(0) came from that
 * range, so between this check and a server's bind any Redis client or fetch in another test
 * process could take it as its local port: the server then could not listen (a facade started
 * that way passed its admin readiness check and refused every consumer connection).
 */
const LOWEST = 20000;
const HIGHEST = 32000;

/** A TCP port that was free a moment ago on 127.0.0.1, outside the ephemeral range. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free TCP port found between ${LOWEST} and ${HIGHEST}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
