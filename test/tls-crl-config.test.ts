import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFacadeConfig } from '../apps/facade/src/config.js';
import { securitySetup } from '../apps/facade/src/security/setup.js';
import { makeTestPki, type TestPki } from './support/certs.js';

/**
 * FACADE_TLS_CRL at start-up (and so in `doctor`, which runs the same checks): with CRLs given,
 * OpenSSL checks every CA of a chain and refuses every certificate under a CA whose list is
 * missing, so a CA bundle with a CA the CRLs do not cover must stop the facade, not every booking.
 */

let dir: string;
let pki: TestPki;
let next: TestPki;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tls-crl-config-'));
  pki = await makeTestPki(dir);
  next = await makeTestPki(mkdtempSync(join(dir, 'next-')), 'Test Spine CA 2027');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const setup = (ca: string, crl: string) =>
  securitySetup(
    loadFacadeConfig({
      QUEUE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
      FACADE_TLS_CERT: pki.server.cert,
      FACADE_TLS_KEY: pki.server.key,
      FACADE_TLS_CA: ca,
      FACADE_TLS_CRL: crl,
      FACADE_TLS_ALLOWED_CLIENTS: 'ssp.test.nhs.uk',
    }),
  );

describe('FACADE_TLS_CRL covers every CA of FACADE_TLS_CA', () => {
  it('starts when each CA has its list, passing the lists to OpenSSL one by one', () => {
    const options = setup(`${pki.ca.cert.trim()}\n${next.ca.cert.trim()}\n`, `${pki.crl}\n${next.crl}`).tls?.serverOptions;
    expect(options?.crl).toEqual([pki.crl.trim(), next.crl.trim()]);
  });

  it('refuses to start, naming the CA, when one CA of the bundle has no list', () => {
    expect(() => setup(`${pki.ca.cert.trim()}\n${next.ca.cert.trim()}\n`, pki.crl)).toThrow(/^FACADE_TLS_CRL: no revocation list for "CN=Test Spine CA 2027" of FACADE_TLS_CA/);
  });
});
