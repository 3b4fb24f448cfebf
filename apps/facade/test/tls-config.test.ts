import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@booking/config';
import { generate } from 'selfsigned';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFacadeConfig } from '../src/config.js';
import { securitySetup } from '../src/security/setup.js';
import { GP_CONNECT_CIPHERS } from '../src/security/settings.js';
import { identityOf, isAllowed, parseAllowList } from '../src/security/tls.js';
import { tlsSourceFiles } from '../src/security/tls-reload.js';

/** TLS settings and the allow-list, without sockets (test/tls.test.ts does real handshakes). */

const FP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const FP_HEX = FP.replace(/:/g, '');

describe('allow-list', () => {
  it('parses names (case-insensitive) and SHA-256 fingerprints (with or without colons or a sha256: prefix)', () => {
    const list = parseAllowList(` SSP.nhs.uk, sha256:${FP}, ${FP_HEX.toLowerCase()} ,,other.example `);
    expect([...list.names]).toEqual(['ssp.nhs.uk', 'other.example']);
    expect([...list.fingerprints]).toEqual([FP_HEX]);
  });

  it('refuses an entry meant as a fingerprint that is not SHA-256, rather than take it for a name that never matches', () => {
    const sha1 = FP.split(':').slice(0, 20).join(':'); // what `openssl x509 -fingerprint` prints without -sha256
    for (const entry of [`sha256:${sha1}`, `SHA256:${sha1}`, sha1, `sha1:${sha1}`, `${FP}:AB`, `sha256:${FP_HEX.slice(2)}`, `SHA256 Fingerprint=${FP}`, FP_HEX.slice(0, 40)]) {
      expect(() => parseAllowList(`ssp.nhs.uk, ${entry}`)).toThrow(ConfigError);
      expect(() => parseAllowList(`ssp.nhs.uk, ${entry}`)).toThrow(/^FACADE_TLS_ALLOWED_CLIENTS: .* is neither a certificate name nor a SHA-256 fingerprint.*openssl x509 -in ssp\.crt -noout -fingerprint -sha256/);
    }
    expect([...parseAllowList(`SHA256:${FP.toLowerCase()}, deadbeef.example`).fingerprints]).toEqual([FP_HEX]);
  });

  it('matches the subject CN, a SAN DNS name or the fingerprint, and nothing else', () => {
    const list = parseAllowList(`ssp.nhs.uk, sha256:${FP}`);
    const id = (cn: string, san: string, fp = '00') => identityOf({ subject: { CN: cn }, subjectaltname: san, fingerprint256: fp } as never);
    expect(isAllowed(id('SSP.NHS.UK', ''), list)).toBe(true);
    expect(isAllowed(id('x', 'DNS:other, DNS:ssp.nhs.uk'), list)).toBe(true);
    expect(isAllowed(id('x', '', FP), list)).toBe(true);
    expect(isAllowed(id('ssp.nhs.uk.evil.example', 'DNS:evil.example, URI:ssp.nhs.uk, IP Address:127.0.0.1'), list)).toBe(false);
    expect(isAllowed(id('evil', 'email:ssp.nhs.uk'), list)).toBe(false);
  });

  it('refuses a certificate whose subject carries two CNs, even when one is listed or the certificate is pinned', () => {
    const list = parseAllowList(`ssp.nhs.uk, sha256:${FP}`);
    const twoCns = (cn: string[], fp = '00') => identityOf({ subject: { CN: cn }, subjectaltname: 'DNS:ssp.nhs.uk', fingerprint256: fp } as never);
    expect(isAllowed(twoCns(['ssp.nhs.uk', 'evil.example']), list)).toBe(false);
    expect(isAllowed(twoCns(['evil.example', 'ssp.nhs.uk']), list)).toBe(false);
    expect(isAllowed(twoCns(['ssp.nhs.uk', 'ssp.nhs.uk'], FP), list)).toBe(false);
    expect(isAllowed(twoCns(['ssp.nhs.uk']), list)).toBe(true);
  });
});

describe('TLS settings', () => {
  let cert: string;
  let key: string;
  let otherKey: string;
  beforeAll(async () => {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', algorithm: 'sha256' });
    cert = pems.cert;
    key = pems.private;
    otherKey = (await generate([{ name: 'commonName', value: 'other' }], { keyType: 'ec', algorithm: 'sha256' })).private;
  });
  const env = (extra: Record<string, string | undefined> = {}) => ({ QUEUE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`, ...extra });

  it('TLS is the default: without certificates the facade does not start, naming the setting', () => {
    const config = loadFacadeConfig(env());
    expect(config.FACADE_TLS).toBe('on');
    expect(config.baseUrl).toBe('https://127.0.0.1:8080/STU3/1');
    expect(() => securitySetup(config)).toThrow(ConfigError);
    expect(() => securitySetup(config)).toThrow(/^FACADE_TLS_CERT: required when FACADE_TLS=on/);
  });

  it.each([
    [{ FACADE_TLS_CERT: 'cert', FACADE_TLS_KEY: 'key', FACADE_TLS_CA: 'ca' }, /^FACADE_TLS_ALLOWED_CLIENTS: required/],
    [{ FACADE_TLS_CERT: 'not pem', FACADE_TLS_KEY: 'key', FACADE_TLS_CA: 'ca', FACADE_TLS_ALLOWED_CLIENTS: 'ssp' }, /^FACADE_TLS_CERT: not a PEM certificate/],
  ])('refuses incomplete or wrong TLS settings %#', (settings, message) => {
    expect(() => securitySetup(loadFacadeConfig(env(settings)))).toThrow(message);
  });

  it('refuses a FACADE_TLS_CRL that is not a PEM revocation list, and passes a good one to OpenSSL', () => {
    const settings = { FACADE_TLS_CERT: cert, FACADE_TLS_KEY: key, FACADE_TLS_CA: cert, FACADE_TLS_ALLOWED_CLIENTS: 'ssp.nhs.uk' };
    expect(() => securitySetup(loadFacadeConfig(env({ ...settings, FACADE_TLS_CRL: cert })))).toThrow(/^FACADE_TLS_CRL: not a PEM certificate revocation list/);
    expect(securitySetup(loadFacadeConfig(env(settings))).tls?.serverOptions).not.toHaveProperty('crl');
  });

  it('refuses, naming the setting, what OpenSSL would refuse when the listener starts: a key not of the certificate, a passphrase that does not open it, a cipher list matching nothing', () => {
    const tls = (extra: Record<string, string>) => () => securitySetup(loadFacadeConfig(env({ FACADE_TLS_CERT: cert, FACADE_TLS_KEY: key, FACADE_TLS_CA: cert, FACADE_TLS_ALLOWED_CLIENTS: 'ssp.nhs.uk', ...extra })));
    const encrypted = createPrivateKey(key).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'right horse' }) as string;
    expect(tls({ FACADE_TLS_KEY: otherKey })).toThrow(/^FACADE_TLS_KEY: not the private key of FACADE_TLS_CERT/);
    expect(tls({ FACADE_TLS_KEY: encrypted, FACADE_TLS_KEY_PASSPHRASE: 'wrong horse' })).toThrow(/^FACADE_TLS_KEY_PASSPHRASE: does not open the encrypted FACADE_TLS_KEY$/);
    expect(tls({ FACADE_TLS_KEY: encrypted })).toThrow(/^FACADE_TLS_KEY_PASSPHRASE: required: FACADE_TLS_KEY is encrypted/);
    expect(tls({ FACADE_TLS_CIPHERS: 'BOGUS' })).toThrow(/^FACADE_TLS_CIPHERS: OpenSSL knows no cipher in "BOGUS"/);
    expect(tls({ FACADE_TLS_KEY: 'not a key' })).toThrow(/^FACADE_TLS_KEY: OpenSSL cannot use it with FACADE_TLS_CERT/);
    expect(tls({ FACADE_TLS_KEY: encrypted, FACADE_TLS_KEY_PASSPHRASE: 'right horse' })).not.toThrow();
  });

  it('builds the server options: client certificates required, TLS 1.2+, GP Connect ciphers in server order', () => {
    const setup = securitySetup(loadFacadeConfig(env({ FACADE_TLS_CERT: cert, FACADE_TLS_KEY: key, FACADE_TLS_CA: cert, FACADE_TLS_ALLOWED_CLIENTS: 'ssp.nhs.uk' })));
    expect(setup.tls?.serverOptions).toMatchObject({ requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', ciphers: GP_CONNECT_CIPHERS, honorCipherOrder: true });
    expect(setup.jwt.mode).toBe('unsigned');
  });

  it('FACADE_TLS=off is plain HTTP with an http base URL', () => {
    const config = loadFacadeConfig(env({ FACADE_TLS: 'off' }));
    expect(config.baseUrl).toBe('http://127.0.0.1:8080/STU3/1');
    expect(securitySetup(config).tls).toBeUndefined();
  });

  it('refuses a bad JWT setting at startup, naming it', () => {
    expect(() => securitySetup(loadFacadeConfig(env({ FACADE_TLS: 'off', JWT_ALGORITHMS: 'HS256' })))).toThrow(/^JWT_ALGORITHMS/);
    expect(() => loadFacadeConfig(env({ MAX_HEADER_BYTES: '100' }))).toThrow(/^MAX_HEADER_BYTES/);
    expect(() => loadFacadeConfig(env({ FACADE_TLS: 'maybe' }))).toThrow(/^FACADE_TLS/);
  });
});

describe('the files a TLS reload watches', () => {
  it('every FACADE_TLS_*_FILE, from the environment or CONFIG_FILE, and CONFIG_FILE itself; nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tls-files-'));
    try {
      const config = join(dir, 'config.json');
      writeFileSync(config, JSON.stringify({ FACADE_TLS_CA_FILE: '/etc/ca.pem', FACADE_TLS_CERT_FILE: '/etc/overridden.pem', ADMIN_PASSWORD_FILE: '/etc/pw' }));
      const files = tlsSourceFiles({ CONFIG_FILE: config, FACADE_TLS_CERT_FILE: '/etc/cert.pem', FACADE_TLS_ALLOWED_CLIENTS_FILE: '/etc/allowed', METRICS_TOKEN_FILE: '/etc/token', FACADE_TLS: 'on' });
      expect(files.sort()).toEqual(['/etc/allowed', '/etc/ca.pem', '/etc/cert.pem', config].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
