import { createServer, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { gracefulCloser } from '../src/graceful.js';

/**
 * The drain on a real server and raw sockets: which answer says `Connection: close`. A request
 * that arrives during the drain is answered 503 at once (app.ts `draining`); a small handler does
 * the same here, and holds the first request until the test releases it.
 */
async function drainScene() {
  let draining = false;
  const held: ServerResponse[] = [];
  const seen: string[] = [];
  let onRequest: () => void = () => {};
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    onRequest();
    // Answered after the request's listeners have run, as the app's async handler is.
    if (draining) setImmediate(() => res.writeHead(503, { 'content-length': '8' }).end('draining'));
    else held.push(res);
  });
  const close = gracefulCloser(server, 100);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk) => (received += chunk));
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  /** Sends a request and resolves once the server has read it. */
  const send = (path: string) =>
    new Promise<void>((resolve) => {
      onRequest = resolve;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
  return {
    send,
    drain: () => {
      draining = true;
      return close();
    },
    release: () => held.shift()?.writeHead(200, { 'content-length': '2' }).end('ok'),
    answers: async () => {
      await ended;
      return received.split(/(?=HTTP\/1\.1 )/).map((a) => `${a.slice(9, 12)} ${/connection: (\S+)/i.exec(a)?.[1]?.toLowerCase()}`);
    },
  };
}

describe('gracefulCloser: which answer closes the connection', () => {
  it('an answer under way when the drain starts says Connection: close', async () => {
    const scene = await drainScene();
    await scene.send('/a');
    const closed = scene.drain();
    scene.release();
    expect(await scene.answers()).toEqual(['200 close']);
    await closed;
  });

  it('with a request pipelined behind it, both are answered and only the last says close: nothing queued is cut off', async () => {
    const scene = await drainScene();
    await scene.send('/a');
    const closed = scene.drain();
    await scene.send('/b'); // read while /a is still under way; its 503 waits behind /a's answer
    scene.release();
    expect(await scene.answers()).toEqual(['200 keep-alive', '503 close']);
    await closed;
  });
});
