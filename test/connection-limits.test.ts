import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { queryAudit } from '../apps/facade/src/audit/query.js';
import { makeTestPki, type TestPki, tlsEnv } from './support/certs.js';
import { consumerHeaders } from './support/consumer.js';
import { type Facade, Stack } from './support/stack.js';

/**
 * Connections that never finish the TLS handshake, with raw sockets on loopback against a real
 * facade process (issue 14, item 1): they are destroyed after the (short, configured) handshake
 * timeout with no HTTP answer and no audit record, and connection caps hold per remote address
 * (127.0.0.2 plays the attacker; Linux routes all of 127/8 to loopback) and in total.
 */

let stack: Stack;
let pki: TestPki;
let dir: string;
let capped: Facade;
const HANDSHAKE_TIMEOUT_MS = 2000;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'booking-conn-'));
  pki = await makeTestPki(dir);
  stack = await Stack.start({ redisUrl: inject('redisUrl'), env: { ...tlsEnv(pki), LOG_LEVEL: 'info', FACADE_TLS_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS), MAX_PENDING_HANDSHAKES_PER_ADDRESS: '3' } });
  capped = await stack.startFacade({ MAX_CONNECTIONS: '2' });
  await stack.waitReady(capped);
});
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Silent {
  socket: Socket;
  received: Buffer[];
  closed: Promise<void>;
  isClosed: () => boolean;
}

/** A TCP connection that says nothing (or only `bytes`), from `localAddress`. */
async function silentSocket(baseUrl: string, localAddress = '127.0.0.1', bytes?: Buffer): Promise<Silent> {
  const socket = connect({ host: '127.0.0.1', port: Number(new URL(baseUrl).port), localAddress });
  const received: Buffer[] = [];
  let done = false;
  socket.on('data', (d: Buffer) => received.push(d));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closed.then(() => (done = true));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  if (bytes) socket.write(bytes);
  return { socket, received, closed, isClosed: () => done };
}

function metadata(baseUrl: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: Number(new URL(baseUrl).port), path: `${new URL(baseUrl).pathname}/metadata`, headers: consumerHeaders(baseUrl, 'metadata'), ca: pki.ca.cert, cert: pki.ssp.cert, key: pki.ssp.key, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

const facadeLog = () => stack.facades[0]!.output.join('');

async function waitFor(check: () => boolean, ms: number) {
  for (const started = Date.now(); !check() && Date.now() - started < ms; ) await sleep(25);
}

describe('connections that never finish the TLS handshake', () => {
  it('are destroyed after the handshake timeout: no HTTP answer, no audit record, a log line with the client address', async () => {
    const started = new Date();
    const silent = await silentSocket(stack.baseUrl);
    // Half a ClientHello (a TLS record header promising more than is sent).
    const partial = await silentSocket(stack.baseUrl, '127.0.0.1', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    await waitFor(() => silent.isClosed() && partial.isClosed(), HANDSHAKE_TIMEOUT_MS * 10);
    expect(silent.isClosed()).toBe(true);
    expect(partial.isClosed()).toBe(true);
    expect(Buffer.concat([...silent.received, ...partial.received]).toString()).not.toContain('HTTP/1.1');

    const records = [];
    for await (const r of queryAudit(stack.auditDir, { from: started })) records.push(r);
    expect(records).toEqual([]);
    // The facade's log reaches this process through a pipe, possibly after the sockets closed.
    const timedOut = /"clientAddress":"(::ffff:)?127\.0\.0\.1","code":"ERR_TLS_HANDSHAKE_TIMEOUT".*TLS handshake refused/;
    await waitFor(() => timedOut.test(facadeLog()), 10_000);
    expect(facadeLog()).toMatch(timedOut);
  });

  it('from one address, at most MAX_PENDING_HANDSHAKES_PER_ADDRESS at once; other clients are still served', async () => {
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await silentSocket(stack.baseUrl, '127.0.0.2'));
    const extra = await silentSocket(stack.baseUrl, '127.0.0.2');
    await extra.closed;
    // Refused on arrival, while the three before it are still waiting for their handshake timeout.
    expect(held.map((s) => s.isClosed())).toEqual([false, false, false]);
    expect(await metadata(stack.baseUrl)).toBe(200);
    await waitFor(() => stack.facades[0]!.output.join('').includes('handshakes-per-address'), 2000);
    const refused = /"clientAddress":"(::ffff:)?127\.0\.0\.2","reason":"handshakes-per-address".*connection refused/;
    await waitFor(() => refused.test(facadeLog()), 10_000);
    expect(facadeLog()).toMatch(refused);
    // Once the held ones time out, the address may connect again.
    await Promise.all(held.map((s) => s.closed));
    const later = await silentSocket(stack.baseUrl, '127.0.0.2');
    await sleep(200);
    expect(later.isClosed()).toBe(false);
    later.socket.destroy();
  });

  it('in total, at most MAX_CONNECTIONS: the next connection is refused on arrival', async () => {
    const held = [await silentSocket(capped.baseUrl, '127.0.0.3'), await silentSocket(capped.baseUrl, '127.0.0.4')];
    const extra = await silentSocket(capped.baseUrl, '127.0.0.5');
    await extra.closed;
    expect(held.map((s) => s.isClosed())).toEqual([false, false]);
    for (const s of held) s.socket.destroy();
    await Promise.all(held.map((s) => s.closed));
    await sleep(100);
    expect(await metadata(capped.baseUrl)).toBe(200);
  });
});

describe('idle keep-alive connections', () => {
  it('stay open for the next request well past Node’s 5 s default, and the answer says for how long (65 s)', async () => {
    const { Agent } = await import('node:https');
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca.cert, cert: pki.ssp.cert, key: pki.ssp.key });
    const get = () =>
      new Promise<{ status: number; keepAlive: string | undefined; localPort: number | undefined }>((resolve, reject) => {
        const url = new URL(stack.baseUrl);
        const req = request({ host: '127.0.0.1', port: Number(url.port), path: `${url.pathname}/metadata`, headers: consumerHeaders(stack.baseUrl, 'metadata'), agent }, (res) => {
          const localPort = res.socket.localPort; // read now: the socket is detached from the response by its end
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, keepAlive: res.headers['keep-alive']?.toString(), localPort }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const first = await get();
      expect(first).toMatchObject({ status: 200, keepAlive: 'timeout=65' });
      await sleep(6500); // idle longer than Node's default keepAliveTimeout (5 s)
      const second = await get();
      expect(second.status).toBe(200);
      expect(first.localPort).toBeGreaterThan(0);
      expect(second.localPort).toBe(first.localPort); // the same connection, not a new one
    } finally {
      agent.destroy();
    }
  });
});
