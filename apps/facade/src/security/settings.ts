import { setting, z } from '@booking/config';
import { DEFAULT_ALGORITHMS } from './jwt.js';

/**
 * The facade's security settings, spread into the facade's config schema. PEM material is read
 * through the config's `NAME_FILE` convention: FACADE_TLS_CERT_FILE=/path supplies FACADE_TLS_CERT,
 * and so on, so certificates and keys can come from Docker/Kubernetes secrets.
 */

/** GP Connect's cipher preference (spec §2), as an OpenSSL cipher list (TLS 1.2; TLS 1.3 suites are all AEAD). */
export const GP_CONNECT_CIPHERS = 'AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH';

export const securitySettings = {
  FACADE_TLS: setting.oneOf(['on', 'off'] as const, '"on" (TLS with client certificates, the default) or "off" (plain HTTP: only for the embedded demo and tests)').default('on'),
  FACADE_TLS_CERT: setting.string('the server certificate chain, PEM (usually given as FACADE_TLS_CERT_FILE=/path)').optional(),
  FACADE_TLS_KEY: setting.string('the server private key, PEM (usually given as FACADE_TLS_KEY_FILE=/path)').optional(),
  FACADE_TLS_KEY_PASSPHRASE: setting.string('the passphrase of an encrypted FACADE_TLS_KEY').optional(),
  FACADE_TLS_CA: setting.string('the CA bundle client certificates must chain to, PEM (usually FACADE_TLS_CA_FILE=/path)').optional(),
  FACADE_TLS_CRL: setting
    .string('certificate revocation lists, PEM (usually FACADE_TLS_CRL_FILE=/path): a revoked client certificate fails the handshake. Give a current CRL of every CA in FACADE_TLS_CA (checked at start-up) and replace the file before its next update: an expired CRL fails every handshake')
    .optional(),
  FACADE_TLS_ALLOWED_CLIENTS: setting
    .string('a comma-separated allow-list of client certificates: subject CN or SAN DNS names, or SHA-256 fingerprints (64 hex digits, colons and a sha256: prefix optional: `openssl x509 -in ssp.crt -noout -fingerprint -sha256`; a SHA-1 fingerprint is refused)')
    .optional(),
  FACADE_TLS_CIPHERS: setting.string('the OpenSSL cipher list for TLS 1.2').default(GP_CONNECT_CIPHERS),
  FACADE_TLS_MIN_VERSION: setting.oneOf(['TLSv1.2', 'TLSv1.3'] as const, 'the lowest TLS version accepted').default('TLSv1.2'),
  FACADE_TLS_HANDSHAKE_TIMEOUT_MS: setting.int('how long a client may take to finish the TLS handshake, in ms; then the socket is destroyed', 100, 120000).default(10000),
  FACADE_TLS_RELOAD_POLL_MS: setting.int('how often the TLS files (FACADE_TLS_*_FILE, CONFIG_FILE) are checked for changes, in ms; a change (or SIGHUP) reloads certificates, key, CA and allow-list', 100, 3600000).default(5000),
  FACADE_TLS_MAX_CONNECTION_AGE_MS: setting
    .int('how long a consumer TLS connection may stay open, in ms; then it is closed (after the answer under way) and the client reconnects with a new handshake, so a client certificate that expired or a CRL past its next update since takes effect (a reload ends them at once: idle ones closed, busy ones after their answers)', 60000, 86400000)
    .default(3600000),
  MAX_CONNECTIONS: setting.int('the most consumer connections open at once; more are refused as they arrive', 1, 1000000).default(4096),
  MAX_CONNECTIONS_PER_ADDRESS: setting.int('the most consumer connections open at once from one remote address (the SSP comes from few addresses: keep it generous)', 1, 1000000).default(2048),
  MAX_PENDING_HANDSHAKES_PER_ADDRESS: setting.int('the most connections from one remote address still in their TLS handshake', 1, 100000).default(64),
  MAX_HEADER_BYTES: setting.int('the largest accepted request head (request line and headers), in bytes; larger → 431', 4096, 1024 * 1024).default(16 * 1024),
  JWT_JWKS_URL: setting.httpUrl('a JWKS URL: when set, only signed JWTs verified against these keys are accepted').optional(),
  JWT_PUBLIC_KEY: setting.string('a PEM public key or certificate (usually JWT_PUBLIC_KEY_FILE=/path): when set, only signed JWTs are accepted').optional(),
  JWT_ALGORITHMS: setting.string('the comma-separated JWS algorithms accepted in signed mode (asymmetric only)').default(DEFAULT_ALGORITHMS),
  JWT_ISSUERS: setting.string('a comma-separated list of accepted JWT "iss" values (any, when unset)').optional(),
  AUDIT_DIR: setting.string('the directory of the audit trail (JSON Lines, one file per day and process)').default('data/audit'),
};

const securitySchema = z.object(securitySettings);
export type SecuritySettings = z.infer<typeof securitySchema>;

export function listSetting(value: string | undefined): string[] {
  return (value ?? '').split(',').map((v) => v.trim()).filter(Boolean);
}
