import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditLog } from '../apps/facade/src/audit/log.js';
import { serveConsumer } from '../apps/facade/src/security/listener.js';
import type { SecuritySettings } from '../apps/facade/src/security/settings.js';
import { tlsServerOptions } from '../apps/facade/src/security/tls.js';
import { ReloadableTls } from '../apps/facade/src/security/tls-reload.js';
import { makeTestPki, revocationList, type TestPki } from './support/certs.js';

/**
 * A reload ends the TLS connections opened before it (real TLS, in-process listener): a client
 * certificate revoked or taken off the allow-list keeps no access through a keep-alive connection
 * it already holds; a request in flight during the reload is still answered. A connection past
 * FACADE_TLS_MAX_CONNECTION_AGE_MS is ended the same way.
 */

let dir: string;
let pki: TestPki;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'booking-tls-reload-conn-'));
  pki = await makeTestPki(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { info() {}, warn() {}, error() {} };
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A listener answering `served` (or waiting on `hold` first), with a reloadable TLS set read from `settings`. */
async function listen(settings: Record<string, string>, hold?: Promise<void>, maxConnectionAgeMs?: number, seen?: string[]) {
  const load = () => tlsServerOptions(settings as unknown as SecuritySettings);
  const material = load();
  const reloadable = new ReloadableTls(material, load, quiet);
  const server = serveConsumer({
    fetch: async (req: Request) => {
      const path = new URL(req.url).pathname;
      seen?.push(path);
      // A pipelined second request is not held: only the first (or any non-pipelined one).
      if (path !== '/second') await hold;
      return new Response('served');
    },
    hostname: '127.0.0.1',
    port: 0,
    maxHeaderBytes: 16384,
    keepAliveTimeoutMs: 60_000,
    tls: { serverOptions: material.serverOptions, allowList: () => reloadable.allowList, handshakeTimeoutMs: 5000 },
    limits: { maxConnections: 100, maxPerAddress: 100, maxHandshakesPerAddress: 10 },
    audit: { write: async () => {} } as unknown as AuditLog,
    logger: quiet,
  });
  reloadable.attach(server as unknown as import('node:tls').Server, maxConnectionAgeMs ? { maxConnectionAgeMs } : {});
  await new Promise((resolve) => server.once('listening', resolve));
  cleanups.push(() => {
    reloadable.close();
    server.closeAllConnections();
    server.close();
  });
  return { reloadable, port: (server.address() as AddressInfo).port };
}

const baseSettings = () => ({
  FACADE_TLS: 'on',
  FACADE_TLS_CERT: pki.server.cert,
  FACADE_TLS_KEY: pki.server.key,
  FACADE_TLS_CA: pki.ca.cert,
  FACADE_TLS_CRL: pki.crl,
  FACADE_TLS_ALLOWED_CLIENTS: 'ssp.test.nhs.uk',
  FACADE_TLS_CIPHERS: 'AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH',
  FACADE_TLS_MIN_VERSION: 'TLSv1.2',
});

/** A keep-alive connection presenting the SSP's certificate; `closed` resolves when the facade ends it. */
async function sspConnection(port: number) {
  const socket: TLSSocket = connect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'localhost', cert: pki.ssp.cert, key: pki.ssp.key });
  socket.on('error', () => {});
  cleanups.push(() => socket.destroy());
  let received = '';
  socket.on('data', (chunk) => (received += chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  /** Sends a GET and resolves with the whole answer once its body has arrived. */
  const get = () => {
    received = '';
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    return new Promise<string>((resolve) => {
      const check = () => (received.endsWith('served') ? resolve(received) : setTimeout(check, 10));
      check();
    });
  };
  return { socket, get, closed };
}

/** The status of a GET on a new connection with the SSP's certificate, or the error that ended it. */
function freshRequest(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'localhost', cert: pki.ssp.cert, key: pki.ssp.key });
    let received = '';
    socket.on('data', (chunk) => (received += chunk));
    socket.on('secureConnect', () => socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.on('close', () => resolve(received.split('\r\n')[0] || 'closed without an answer'));
  });
}

/** Each answer received on `received`: its status line code and its Connection header. */
const answersIn = (received: string) => received.split(/(?=HTTP\/1\.1 )/).map((a) => `${a.slice(9, 12)} ${/\r\nconnection: (\S+)/i.exec(a)?.[1]?.toLowerCase()}`);

const post = (path: string) => `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}`;
const waitFor = async (done: () => boolean) => {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 20));
};

/**
 * Request A held under way on a connection, request B pipelined behind it on the same socket, read
 * before or after `retire` ends the connection (a reload, or waiting out its age); then A is
 * released. The answers received before the connection ended.
 */
async function pipelinedOnRetiredConnection(secondRead: 'before' | 'after', retire: (reloadable: ReloadableTls) => Promise<void>, maxConnectionAgeMs?: number) {
  let release = () => {};
  const hold = new Promise<void>((resolve) => (release = resolve));
  const seen: string[] = [];
  const { reloadable, port } = await listen(baseSettings(), hold, maxConnectionAgeMs, seen);
  const open = await sspConnection(port);
  let received = '';
  open.socket.on('data', (chunk) => (received += chunk));
  open.socket.write(post('/first'));
  await waitFor(() => seen.length === 1);
  if (secondRead === 'before') open.socket.write(post('/second'));
  await waitFor(() => seen.length === 2 || secondRead === 'after'); // read: its job would be queued
  await retire(reloadable);
  if (secondRead === 'after') open.socket.write(post('/second'));
  await waitFor(() => seen.length === 2);
  release();
  await open.closed;
  return answersIn(received);
}

describe('a TLS reload ends the connections opened before it', () => {
  it('a client certificate taken off the allow-list loses its open keep-alive connection', async () => {
    const settings = baseSettings();
    const { reloadable, port } = await listen(settings);
    const open = await sspConnection(port);
    expect(await open.get()).toMatch(/^HTTP\/1.1 200/);

    settings.FACADE_TLS_ALLOWED_CLIENTS = 'some-other-ssp.nhs.uk';
    expect(reloadable.reload('test')).toBe(true);
    await open.closed; // before the fix, the connection stayed open and kept being served
    expect(await freshRequest(port)).not.toMatch(/200/);
  });

  it('a client certificate revoked by a new CRL loses its open keep-alive connection', async () => {
    const settings = baseSettings();
    const { reloadable, port } = await listen(settings);
    const open = await sspConnection(port);
    expect(await open.get()).toMatch(/^HTTP\/1.1 200/);

    settings.FACADE_TLS_CRL = await revocationList(pki.ca, [pki.revoked, pki.ssp]);
    expect(reloadable.reload('test')).toBe(true);
    await open.closed;
    expect(await freshRequest(port)).not.toMatch(/200/);
  });

  it('a request in flight during the reload is answered, with Connection: close, and its connection then ends', async () => {
    const settings = baseSettings();
    let release = () => {};
    const hold = new Promise<void>((resolve) => (release = resolve));
    const { reloadable, port } = await listen(settings, hold);
    const open = await sspConnection(port);
    const answer = open.get();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the request reaches the handler

    expect(reloadable.reload('test')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(open.socket.destroyed).toBe(false);
    release();
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1.1 200/);
    expect(text).toMatch(/\r\nConnection: close\r\n/i);
    await open.closed;
  });

  it('a connection accepted before the reload but handshaking after it (its hello held back) is ended before any request: it was verified under the old CRL', async () => {
    const settings = baseSettings();
    const seen: string[] = [];
    const { reloadable, port } = await listen(settings, undefined, undefined, seen);
    const raw = tcpConnect({ host: '127.0.0.1', port });
    raw.on('error', () => {});
    cleanups.push(() => raw.destroy());
    await new Promise((resolve) => raw.once('connect', resolve));
    settings.FACADE_TLS_CRL = await revocationList(pki.ca, [pki.revoked, pki.ssp]);
    expect(reloadable.reload('test')).toBe(true);
    const socket: TLSSocket = connect({ socket: raw, ca: pki.ca.cert, servername: 'localhost', cert: pki.ssp.cert, key: pki.ssp.key });
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (chunk) => (received += chunk));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.once('secureConnect', () => socket.write('POST /Appointment HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}'));
    const served = new Promise<void>((resolve) => socket.on('data', () => received.includes('served') && resolve()));
    await Promise.race([closed, served]); // before the fix it was served, under the CRL of before the reload
    expect(received).not.toMatch(/200/);
    expect(seen).toEqual([]); // and never reached the app: no job was queued for it
  });

  it('two pipelined requests on a connection retired by a reload are both answered, then the connection ends', async () => {
    const answers = await pipelinedOnRetiredConnection('before', async (reloadable) => {
      expect(reloadable.reload('test')).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 200)); // the reload has retired the connection, the first answer still held
    });
    expect(answers.map((a) => a.slice(0, 3))).toEqual(['200', '200']); // before: the second answer was dropped
  });

  it('a request pipelined after the reload behind an answer still under way is answered too: only its answer says Connection: close', async () => {
    const answers = await pipelinedOnRetiredConnection('after', async (reloadable) => {
      expect(reloadable.reload('test')).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 100)); // the reload has retired the connection
    });
    expect(answers).toEqual(['200 keep-alive', '200 close']); // before: ['200 close'], the second cut off
  });

  it('a reload that fails keeps open connections', async () => {
    const settings = baseSettings();
    const { reloadable, port } = await listen(settings);
    const open = await sspConnection(port);
    expect(await open.get()).toMatch(/^HTTP\/1.1 200/);
    settings.FACADE_TLS_CERT = 'not a certificate';
    expect(reloadable.reload('test')).toBe(false);
    expect(await open.get()).toMatch(/^HTTP\/1.1 200/);
  });
});

describe('FACADE_TLS_MAX_CONNECTION_AGE_MS', () => {
  it('a connection past its age is ended (after the answer under way), and its client reconnects with a new handshake', async () => {
    let release = () => {};
    const hold = new Promise<void>((resolve) => (release = resolve));
    const { port } = await listen(baseSettings(), hold, 300);
    const open = await sspConnection(port);
    const answer = open.get(); // in flight when the connection comes of age
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(open.socket.destroyed).toBe(false);
    release();
    expect(await answer).toMatch(/\r\nConnection: close\r\n/i);
    await open.closed; // before the age limit, keep-alive held it open for as long as the client used it
    expect(await freshRequest(port)).toMatch(/^HTTP\/1.1 200/);
  });

  it('a request pipelined after the connection came of age, behind an answer still under way, is answered too: only its answer says Connection: close', async () => {
    const answers = await pipelinedOnRetiredConnection('after', () => new Promise((resolve) => setTimeout(resolve, 500)), 300);
    expect(answers).toEqual(['200 keep-alive', '200 close']); // before: ['200 close'], the second cut off
  });

  it('an idle connection past its age is not closed unannounced (a proxy may be sending on it): its next answer says Connection: close, then it ends', async () => {
    const { port } = await listen(baseSettings(), undefined, 300);
    const open = await sspConnection(port);
    await new Promise((resolve) => setTimeout(resolve, 800)); // idle from its handshake, past its age
    expect(open.socket.destroyed).toBe(false); // before: closed while idle, racing a request on the wire
    expect(await open.get()).toMatch(/\r\nConnection: close\r\n/i);
    await open.closed;
  });
});
