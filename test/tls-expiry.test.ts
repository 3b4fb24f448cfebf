import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tlsExpiries } from '../apps/facade/src/security/tls.js';
import { makeTestPki } from './support/certs.js';

/** What the facade exports as booking_tls_expiry_timestamp_seconds, from the loaded TLS material, in-process. */
describe('TLS expiry dates for monitoring (tlsExpiries)', () => {
  it('reads the server certificate and its chain, every CA and every CRL, tells apart two with one subject, and skips a block that does not parse', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tls-expiry-'));
    try {
      // A CA re-keyed under the same name: two CA certificates and two CRLs with one subject each.
      const [old, rekeyed] = [await makeTestPki(mkdtempSync(join(dir, 'old-')), 'Spine CA'), await makeTestPki(mkdtempSync(join(dir, 'new-')), 'Spine CA')];
      const garbled = '-----BEGIN CERTIFICATE-----\nMIIBnotacertificate\n-----END CERTIFICATE-----';
      const expiries = tlsExpiries({ cert: `${old.server.cert}\n${old.ca.cert}`, ca: `${old.ca.cert}\n${garbled}\n${rekeyed.ca.cert}`, crl: [old.crl, rekeyed.crl] });
      const at = (pem: string) => new Date(new X509Certificate(pem).validTo).getTime();
      expect(expiries.map((e) => [e.kind, e.subject, e.at.getTime()])).toEqual([
        ['server_certificate', 'CN=localhost', at(old.server.cert)],
        ['server_chain', 'CN=Spine CA', at(old.ca.cert)],
        ['client_ca', 'CN=Spine CA', at(old.ca.cert)],
        ['client_ca', 'CN=Spine CA', at(rekeyed.ca.cert)],
        ['crl', 'CN=Spine CA', expect.any(Number)],
        ['crl', 'CN=Spine CA', expect.any(Number)],
      ]);
      const caIds = expiries.filter((e) => e.kind === 'client_ca').map((e) => e.id);
      const crlIds = expiries.filter((e) => e.kind === 'crl').map((e) => e.id);
      expect(new Set(caIds).size).toBe(2);
      expect(new Set(crlIds).size).toBe(2);
      expect(caIds.every((id) => /^[0-9a-f]{16}$/.test(id))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
