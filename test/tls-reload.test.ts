import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeTestPki, type Pem, type TestPki, tlsEnv } from './support/certs.js';
import { consumerHeaders } from './support/consumer.js';
import { scrape } from './support/prometheus.js';
import { type Facade, Stack } from './support/stack.js';

/**
 * Certificates, key, CA bundle and client allow-list reload without a restart (issue 13, "Also"):
 * when their files change (facade0 polls every 200 ms) and on SIGHUP (facade1 polls once an hour,
 * so only the signal reloads it). A bad new file keeps the old set in use. Certificates are made
 * at run time.
 */

let stack: Stack;
let dir: string;
let pki: TestPki;
let next: TestPki;
let allowFile: string;
let polling: Facade;
let signalled: Facade;
let trustedCas: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'booking-tls-reload-'));
  pki = await makeTestPki(dir);
  next = await makeTestPki(mkdtempSync(join(dir, 'next-')), 'Test Spine CA 2027');
  trustedCas = `${pki.ca.cert.trim()}\n${next.ca.cert.trim()}\n`;
  allowFile = join(dir, 'allowed-clients');
  writeFileSync(allowFile, 'ssp.test.nhs.uk');
  const { FACADE_TLS_ALLOWED_CLIENTS: _, ...env } = tlsEnv(pki);
  stack = await Stack.start({ redisUrl: inject('redisUrl'), env: { ...env, LOG_LEVEL: 'info', FACADE_TLS_ALLOWED_CLIENTS_FILE: allowFile, FACADE_TLS_RELOAD_POLL_MS: '200' } });
  polling = stack.facades[0] as Facade;
  signalled = await stack.startFacade({ FACADE_TLS_RELOAD_POLL_MS: '3600000' });
  await stack.waitReady(signalled);
});
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const portOf = (facade: Facade) => Number(new URL(facade.baseUrl).port);

/** GET /metadata presenting `client`: the status, or the error code when the connection is refused. */
function metadata(facade: Facade, client: Pem): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: portOf(facade), path: `${new URL(facade.baseUrl).pathname}/metadata`, headers: consumerHeaders(facade.baseUrl, 'metadata'), ca: trustedCas, cert: client.cert, key: client.key, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

/** The SHA-256 fingerprint of the certificate the facade presents now. */
function serverFingerprint(facade: Facade): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: portOf(facade), servername: 'localhost', ca: trustedCas, cert: pki.ssp.cert, key: pki.ssp.key }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

async function eventually<T>(probe: () => Promise<T>, expected: T, ms = 15000): Promise<T> {
  let seen = await probe();
  for (const started = Date.now(); seen !== expected && Date.now() - started < ms; seen = await probe()) await sleep(100);
  return seen;
}

const logOf = (facade: Facade) => facade.output.join('');

/** The facade's booking_tls_expiry_timestamp_seconds series: `kind subject` → epoch seconds. */
async function tlsExpiries(facade: Facade): Promise<Record<string, number>> {
  const text = await scrape(facade.adminUrl);
  const series = [...text.matchAll(/^booking_tls_expiry_timestamp_seconds\{kind="([^"]+)",subject="([^"]+)",id="[0-9a-f]{16}"\} (\d+)$/gm)];
  return Object.fromEntries(series.map((m) => [`${m[1]} ${m[2]}`, Number(m[3])]));
}
const notAfter = (pem: string) => Math.floor(new Date(new X509Certificate(pem).validTo).getTime() / 1000);
const subjectOf = (pem: string) => new X509Certificate(pem).subject.split('\n').join(', ');

describe('TLS material reloads without a restart', () => {
  it('a changed allow-list file applies to new connections; the facade that does not poll keeps the old list until SIGHUP', async () => {
    expect(await metadata(polling, pki.ssp)).toBe(200);
    expect(await metadata(polling, pki.stranger)).toBe('ECONNRESET');
    writeFileSync(allowFile, 'stranger.test.nhs.uk');
    expect(await eventually(() => metadata(polling, pki.stranger), 200)).toBe(200);
    expect(await metadata(polling, pki.ssp)).toBe('ECONNRESET');
    expect(logOf(polling)).toMatch(/"trigger":"file changed: .*TLS certificates, key, CA and client allow-list reloaded/);

    expect(await metadata(signalled, pki.ssp)).toBe(200);
    expect(await metadata(signalled, pki.stranger)).toBe('ECONNRESET');
    signalled.child.kill('SIGHUP');
    expect(await eventually(() => metadata(signalled, pki.stranger), 200)).toBe(200);
    expect(logOf(signalled)).toMatch(/"trigger":"SIGHUP".*reloaded/);
    expect(signalled.child.exitCode).toBeNull(); // SIGHUP no longer ends the process
  });

  it('a new server certificate, key, CA bundle and CRLs are served on the next handshake, and their expiry dates are exported for alerts', async () => {
    const before = await tlsExpiries(polling);
    expect(Object.keys(before).sort()).toEqual([`client_ca ${subjectOf(pki.ca.cert)}`, `crl ${subjectOf(pki.ca.cert)}`, `server_certificate ${subjectOf(pki.server.cert)}`].sort());
    expect(before[`server_certificate ${subjectOf(pki.server.cert)}`]).toBe(notAfter(pki.server.cert));
    expect(before[`client_ca ${subjectOf(pki.ca.cert)}`]).toBe(notAfter(pki.ca.cert));
    expect(before[`crl ${subjectOf(pki.ca.cert)}`]).toBeGreaterThan(Date.now() / 1000);

    writeFileSync(allowFile, 'ssp.test.nhs.uk');
    // With CRLs checked, a CA without its list in FACADE_TLS_CRL has every client refused: the new CA's list comes with it.
    writeFileSync(pki.files.crl, `${pki.crl.trim()}\n${next.crl.trim()}\n`);
    writeFileSync(pki.files.ca, trustedCas);
    writeFileSync(pki.files.key, next.server.key);
    writeFileSync(pki.files.cert, next.server.cert);
    expect(await eventually(() => serverFingerprint(polling), next.server.fingerprint)).toBe(next.server.fingerprint);
    expect(await metadata(polling, next.ssp)).toBe(200); // a client of the newly trusted CA
    expect(await metadata(polling, pki.ssp)).toBe(200); // and of the old one, still in the bundle
    expect(await metadata(polling, next.revoked)).not.toBe(200); // and the new CA's revocations apply

    const after = await tlsExpiries(polling);
    expect(Object.keys(after).sort()).toEqual(
      [`client_ca ${subjectOf(pki.ca.cert)}`, `client_ca ${subjectOf(next.ca.cert)}`, `crl ${subjectOf(pki.ca.cert)}`, `crl ${subjectOf(next.ca.cert)}`, `server_certificate ${subjectOf(next.server.cert)}`].sort(),
    );
    expect(after[`server_certificate ${subjectOf(next.server.cert)}`]).toBe(notAfter(next.server.cert));
  });

  it('a bad new file (not PEM, or a key that does not match) keeps the previous set in use and logs an error', async () => {
    const failures = () => (logOf(polling).match(/TLS reload FAILED/g) ?? []).length;
    const before = failures();
    writeFileSync(pki.files.cert, 'not a certificate');
    expect(await eventually(async () => failures() > before, true)).toBe(true);
    expect(await serverFingerprint(polling)).toBe(next.server.fingerprint);
    expect(await metadata(polling, pki.ssp)).toBe(200);

    const again = failures();
    writeFileSync(pki.files.cert, pki.server.cert); // the old certificate with the new key
    expect(await eventually(async () => failures() > again, true)).toBe(true);
    expect(await serverFingerprint(polling)).toBe(next.server.fingerprint);
    expect(await metadata(polling, pki.ssp)).toBe(200);
    expect(logOf(polling)).toMatch(/"level":50.*"err":"[^"]+".*TLS reload FAILED: the previous certificates, key, CA and allow-list stay in use/);
  });
});
