import { webcrypto, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { generate } from 'selfsigned';

/**
 * A throwaway PKI for TLS tests, made at run time (EC P-256 keys, so it takes milliseconds): a
 * CA standing in for the Spine chain of trust, the facade's server certificate, client
 * certificates signed by that CA (good, expired, not allow-listed) and one from a stranger CA.
 */

export interface Pem {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  fingerprint: string;
}

export interface TestPki {
  ca: Pem;
  server: Pem;
  /** CN ssp.test.nhs.uk: on the allow-list by name. */
  ssp: Pem;
  /** CN pinned-client, allow-listed by fingerprint only. */
  pinned: Pem;
  /** CN other-client, SAN DNS ssp-alt.test.nhs.uk: on the allow-list by SAN. */
  bySan: Pem;
  /** Signed by the CA but on no list. */
  stranger: Pem;
  expired: Pem;
  /** Subject with two CNs, the first of them allow-listed (refused: it names no single identity). */
  twoCns: Pem;
  /** From a CA the facade does not trust. */
  rogue: Pem;
  /** CN ssp.test.nhs.uk (allow-listed by name), signed by the CA and on its revocation list. */
  revoked: Pem;
  /** The CA's CRL (PEM), revoking `revoked`. */
  crl: string;
  /** The files the facade reads. */
  files: { cert: string; key: string; ca: string; crl: string };
}

const EC = { keyType: 'ec' as const, algorithm: 'sha256' as const };
const DAY = 24 * 3600 * 1000;

async function leaf(cn: string | string[], ca: Pem, options: { san?: { type: 2 | 7; value?: string; ip?: string }[]; server?: boolean; notBefore?: Date; notAfter?: Date } = {}): Promise<Pem> {
  const cns = Array.isArray(cn) ? cn : [cn];
  const pems = await generate(cns.map((value) => ({ name: 'commonName', value })), {
    ...EC,
    ca: { key: ca.key, cert: ca.cert },
    notBeforeDate: options.notBefore ?? new Date(Date.now() - DAY),
    notAfterDate: options.notAfter ?? new Date(Date.now() + 30 * DAY),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: options.server ?? false, clientAuth: !options.server },
      { name: 'subjectAltName', altNames: options.san ?? [{ type: 2, value: cns[0] }] },
    ],
  });
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}

async function authority(cn: string): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: cn }], {
    ...EC,
    notBeforeDate: new Date(Date.now() - 3 * 365 * DAY),
    notAfterDate: new Date(Date.now() + 365 * DAY),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}

/** `caName`: a second PKI (e.g. for a CA rotation) needs a CA of another name, or OpenSSL may pick the wrong one. */
export async function makeTestPki(dir: string, caName = 'Test Spine CA'): Promise<TestPki> {
  const ca = await authority(caName);
  const rogueCa = await authority('Rogue CA');
  const pki: Omit<TestPki, 'files' | 'crl'> = {
    ca,
    server: await leaf('localhost', ca, { server: true, san: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }),
    ssp: await leaf('ssp.test.nhs.uk', ca),
    pinned: await leaf('pinned-client', ca),
    bySan: await leaf('other-client', ca, { san: [{ type: 2, value: 'ssp-alt.test.nhs.uk' }] }),
    stranger: await leaf('stranger.test.nhs.uk', ca),
    expired: await leaf('ssp.test.nhs.uk', ca, { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - 35 * DAY) }),
    twoCns: await leaf(['ssp.test.nhs.uk', 'evil.example'], ca, { san: [{ type: 2, value: 'evil.example' }] }),
    rogue: await leaf('ssp.test.nhs.uk', rogueCa),
    revoked: await leaf('ssp.test.nhs.uk', ca),
  };
  const crl = await revocationList(ca, [pki.revoked]);
  const files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt'), crl: join(dir, 'ca.crl') };
  writeFileSync(files.cert, pki.server.cert);
  writeFileSync(files.key, pki.server.key, { mode: 0o600 });
  writeFileSync(files.ca, ca.cert);
  writeFileSync(files.crl, crl);
  return { ...pki, crl, files };
}

/** A CRL signed by `ca` (valid for 30 days) revoking `revoked`, PEM. */
export async function revocationList(ca: Pem, revoked: Pem[]): Promise<string> {
  x509.cryptoProvider.set(webcrypto as Crypto);
  const der = Buffer.from(ca.key.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const crl = await x509.X509CrlGenerator.create({
    issuer: new x509.X509Certificate(ca.cert).subjectName,
    thisUpdate: new Date(Date.now() - DAY),
    nextUpdate: new Date(Date.now() + 30 * DAY),
    entries: revoked.map((pem) => ({ serialNumber: new X509Certificate(pem.cert).serialNumber, revocationDate: new Date(Date.now() - DAY), reason: x509.X509CrlReason.keyCompromise })),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    signingKey: signingKey as CryptoKey,
  });
  // OpenSSL reads only the "X509 CRL" PEM label.
  return crl.toString('pem').replace(/(BEGIN|END) CRL/g, '$1 X509 CRL');
}

/** The facade settings for this PKI: names ssp.test.nhs.uk and ssp-alt.test.nhs.uk, and the pinned client's fingerprint. */
export function tlsEnv(pki: TestPki): Record<string, string> {
  return {
    FACADE_TLS: 'on',
    FACADE_TLS_CERT_FILE: pki.files.cert,
    FACADE_TLS_KEY_FILE: pki.files.key,
    FACADE_TLS_CA_FILE: pki.files.ca,
    FACADE_TLS_CRL_FILE: pki.files.crl,
    FACADE_TLS_ALLOWED_CLIENTS: `ssp.test.nhs.uk, ssp-alt.test.nhs.uk, sha256:${pki.pinned.fingerprint}`,
  };
}
