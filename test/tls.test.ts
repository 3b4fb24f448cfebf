import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AddressInfo, createServer } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { queryAudit } from '../apps/facade/src/audit/query.js';
import { makeTestPki, type Pem, type TestPki, tlsEnv } from './support/certs.js';
import { bookingBody, consumerHeaders } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { spawnTs, Stack } from './support/stack.js';

/**
 * Mutual TLS on the consumer-facing listener (spec §2), with real handshakes against a facade
 * process: the CA, the allow-list, expiry, protocol version, ciphers and HSTS.
 */

let stack: Stack;
let pki: TestPki;
let dir: string;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'booking-tls-'));
  pki = await makeTestPki(dir);
  stack = await Stack.start({ redisUrl: inject('redisUrl'), env: tlsEnv(pki) });
  port = Number(new URL(stack.baseUrl).port);
});
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  body?: string;
  error?: NodeJS.ErrnoException;
}

/** One HTTPS request presenting `client` (or no certificate); resolves with the answer or the error. */
function httpsRequest(path: string, client: Pem | undefined, options: { method?: string; headers?: Record<string, string>; body?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: new URL(stack.baseUrl).pathname + path,
        method: options.method ?? 'GET',
        headers: options.headers,
        ca: pki.ca.cert,
        ...(client ? { cert: client.cert, key: client.key } : {}),
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      },
    );
    req.on('error', (error) => resolve({ error }));
    req.end(options.body);
  });
}

const metadata = (client: Pem | undefined, maxVersion?: 'TLSv1.2' | 'TLSv1.3') => httpsRequest('/metadata', client, { headers: consumerHeaders(stack.baseUrl, 'metadata'), ...(maxVersion ? { maxVersion } : {}) });

/** A raw TLS connection: what the handshake and the first read say. */
function handshake(options: { cert?: Pem; minVersion?: 'TLSv1' | 'TLSv1.2'; maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'; ciphers?: string }): Promise<{ socket?: TLSSocket; error?: NodeJS.ErrnoException; closedWithoutData?: boolean }> {
  return new Promise((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca: pki.ca.cert,
      servername: 'localhost',
      ...(options.cert ? { cert: options.cert.cert, key: options.cert.key } : {}),
      ...(options.minVersion ? { minVersion: options.minVersion } : {}),
      ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
      ...(options.ciphers ? { ciphers: options.ciphers } : {}),
    });
    socket.once('secureConnect', () => resolve({ socket }));
    socket.once('error', (error) => resolve({ error }));
  });
}

/** The facade logs why it refused a handshake (LOG_LEVEL=warn in test stacks). */
async function expectFacadeLog(pattern: RegExp) {
  for (let i = 0; i < 50 && !pattern.test(stack.facades[0]!.output.join('')); i++) await sleep(20);
  expect(stack.facades[0]!.output.join('')).toMatch(pattern);
}

describe('mutual TLS on the consumer listener', () => {
  it('answers 200 on /metadata to an allow-listed client (by CN), with HSTS', async () => {
    const answer = await metadata(pki.ssp);
    expect(answer.error).toBeUndefined();
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body as string).resourceType).toBe('CapabilityStatement');
    expect(answer.headers?.['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(answer.headers?.['x-content-type-options']).toBe('nosniff');
  });

  it('accepts clients allow-listed by SAN DNS name and by SHA-256 fingerprint, and over TLS 1.2', async () => {
    expect((await metadata(pki.bySan)).status).toBe(200);
    expect((await metadata(pki.pinned)).status).toBe(200);
    expect((await metadata(pki.ssp, 'TLSv1.2')).status).toBe(200);
  });

  it('books over TLS: Location is the https service root', async () => {
    const db = stack.openPas();
    const [slot] = freeSlots(db, '999999999', 1);
    db.close();
    const answer = await httpsRequest('/Appointment', pki.ssp, { method: 'POST', headers: consumerHeaders(stack.baseUrl, 'book'), body: JSON.stringify(bookingBody(slot!)) });
    expect(answer.status).toBe(201);
    expect(answer.headers?.location).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:${port}/STU3/1/Appointment/[0-9a-f-]+/_history/1$`));
  });

  it('fails the handshake without a client certificate', async () => {
    const answer = await metadata(undefined);
    expect(answer.status).toBeUndefined();
    expect(answer.error?.code).toMatch(/CERTIFICATE_REQUIRED|ECONNRESET|HANDSHAKE_FAILURE/);
    await expectFacadeLog(/"clientAddress":"(::ffff:)?127\.0\.0\.1","code":"ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE".*TLS handshake refused/);
  });

  it('fails the handshake for a certificate from an unknown CA', async () => {
    const answer = await metadata(pki.rogue);
    expect(answer.status).toBeUndefined();
    // Node verifies the chain when OpenSSL finishes and destroys the socket (no alert): the client sees a reset.
    expect(answer.error?.code).toMatch(/UNKNOWN_CA|ECONNRESET|BAD_CERTIFICATE/);
    await expectFacadeLog(/"clientAddress":"(::ffff:)?127\.0\.0\.1","code":"(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)".*TLS handshake refused/);
  });

  it('fails the handshake for an expired certificate', async () => {
    const answer = await metadata(pki.expired);
    expect(answer.status).toBeUndefined();
    expect(answer.error?.code).toMatch(/CERTIFICATE_EXPIRED|ECONNRESET|BAD_CERTIFICATE/);
    await expectFacadeLog(/"clientAddress":"(::ffff:)?127\.0\.0\.1","code":"CERT_HAS_EXPIRED".*TLS handshake refused/);
  });

  it('fails the handshake for a revoked certificate (FACADE_TLS_CRL), though its name is on the allow-list', async () => {
    const answer = await metadata(pki.revoked);
    expect(answer.status).toBeUndefined();
    expect(answer.error?.code).toMatch(/REVOKED|ECONNRESET|BAD_CERTIFICATE/);
    await expectFacadeLog(/"clientAddress":"(::ffff:)?127\.0\.0\.1","code":"CERT_REVOKED".*TLS handshake refused/);
  });

  it('closes the connection of a valid certificate not on the allow-list without any HTTP response, and audits it', async () => {
    const started = new Date();
    const answer = await metadata(pki.stranger);
    expect(answer.status).toBeUndefined();
    expect(answer.error?.code).toBe('ECONNRESET');

    // At the TLS level: the handshake completes, then the server closes before sending a byte.
    const { socket, error } = await handshake({ cert: pki.stranger });
    if (socket) {
      const received: Buffer[] = [];
      socket.on('data', (d: Buffer) => received.push(d));
      socket.on('error', () => {});
      socket.write('GET /STU3/1/metadata HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await new Promise((resolve) => socket.once('close', resolve));
      expect(Buffer.concat(received).length).toBe(0);
    } else {
      expect(error).toBeDefined();
    }

    await sleep(100);
    const refused = [];
    for await (const r of queryAudit(stack.auditDir, { from: started })) if (r.event === 'tls-refused') refused.push(r);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused[0]).toMatchObject({ status: null, outcome: 'ACCESS_DENIED_SSL', clientCertCn: 'stranger.test.nhs.uk', clientCertSha256: pki.stranger.fingerprint.replace(/:/g, '') });
  });

  it('refuses a certificate whose subject carries two CNs, though the first is on the allow-list', async () => {
    const answer = await metadata(pki.twoCns);
    expect(answer.status).toBeUndefined();
    expect(answer.error?.code).toBe('ECONNRESET');
    await expectFacadeLog(/"clientCertCn":"ssp.test.nhs.uk".*not on FACADE_TLS_ALLOWED_CLIENTS \(or its subject has more than one CN\)/);
  });

  it('refuses TLS 1.1 (minVersion TLSv1.2)', async () => {
    const { socket, error } = await handshake({ cert: pki.ssp, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    socket?.destroy();
    expect(socket).toBeUndefined();
    expect(error?.code).toMatch(/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|EPROTO/);
  });

  it('negotiates a GP Connect cipher (ECDHE with AES-GCM) on TLS 1.2 and refuses a CBC-only client', async () => {
    const { socket } = await handshake({ cert: pki.ssp, maxVersion: 'TLSv1.2' });
    expect(socket?.getProtocol()).toBe('TLSv1.2');
    expect(socket?.getCipher().name).toMatch(/^ECDHE-(ECDSA|RSA)-AES(128|256)-GCM-SHA(256|384)$/);
    socket?.destroy();
    const cbc = await handshake({ cert: pki.ssp, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' });
    cbc.socket?.destroy();
    expect(cbc.error).toBeDefined();
  });

  it('answers an oversized request head from an allow-listed client with its own 431, carrying HSTS and the hardening headers', async () => {
    const answer = await httpsRequest('/metadata', pki.ssp, { headers: { ...consumerHeaders(stack.baseUrl, 'metadata'), 'X-Filler': 'a'.repeat(17 * 1024) } });
    expect(answer.status).toBe(431);
    expect(JSON.parse(answer.body as string).resourceType).toBe('OperationOutcome');
    expect(answer.headers?.['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(answer.headers?.['x-content-type-options']).toBe('nosniff');
  });

  it('does not speak plain HTTP on the TLS port', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/STU3/1/metadata`).catch((error: Error) => error);
    expect(res).toBeInstanceOf(Error);
  });
});

describe('a port already taken', () => {
  it.each(['FACADE_PORT', 'ADMIN_PORT'] as const)('stops the facade with one line naming %s', async (setting) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = String((taken.address() as AddressInfo).port);
      const env = { ...stack.commonEnv(), ...tlsEnv(pki), FACADE_HOST: '127.0.0.1', ADMIN_HOST: '127.0.0.1', FACADE_PORT: '0', ADMIN_PORT: '0', [setting]: port } as Record<string, string>;
      const child = spawnTs('apps/facade/src/main.ts', env, `facade-${setting}-taken`);
      const code = await new Promise<number | null>((resolve) => child.child.once('exit', resolve));
      expect(code).toBe(1);
      expect(child.output.join('')).toMatch(new RegExp(`"level":60.*listener cannot start: set ${setting} to a free port`));
    } finally {
      taken.close();
    }
  });
});

describe('TLS is the default', () => {
  it('a facade with no TLS settings and no FACADE_TLS=off refuses to start, naming the setting', async () => {
    const env = { ...stack.commonEnv(), FACADE_PORT: '0', ADMIN_PORT: '0' } as Record<string, string>;
    for (const key of Object.keys(env)) if (key.startsWith('FACADE_TLS')) delete env[key];
    const child = spawnTs('apps/facade/src/main.ts', { ...env, FACADE_TLS: '' }, 'facade-no-tls');
    const code = await new Promise<number | null>((resolve) => child.child.once('exit', resolve));
    expect(code).toBe(78);
    expect(child.output.join('')).toMatch(/FACADE_TLS_CERT: required when FACADE_TLS=on \(the default\)/);
  });
});
