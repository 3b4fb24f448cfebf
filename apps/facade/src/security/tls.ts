import { createHash, X509Certificate } from 'node:crypto';
import type { ServerOptions } from 'node:https';
import { createSecureContext, type PeerCertificate, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { ConfigError } from '@booking/config';
import { X509Certificate as PemCertificate, X509Crl } from '@peculiar/x509';
import { listSetting, type SecuritySettings } from './settings.js';

/**
 * TLS with mutual authentication on the consumer-facing listener (spec §2): the SSP's client
 * certificate must chain to the configured CA and be unexpired (OpenSSL refuses it during the
 * handshake otherwise), and must be on the allow-list (checked on `secureConnection`, before the
 * HTTP parser sees a byte).
 */

/** Who a client certificate says it is, for the allow-list and the audit trail. */
export interface ClientIdentity {
  commonNames: string[];
  dnsNames: string[];
  /** SHA-256 of the DER certificate, upper-case hex without colons. */
  fingerprint256: string;
}

export interface AllowList {
  names: Set<string>;
  fingerprints: Set<string>;
}

const FINGERPRINT = /^(?:sha256:)?((?:[0-9a-f]{2}:?){31}[0-9a-f]{2})$/i;
/**
 * Meant as a fingerprint, yet not a SHA-256 one: a colon or `=` (`sha256:` + the SHA-1 that
 * `openssl x509 -fingerprint` prints by default, `sha1:…`, a pasted `SHA256 Fingerprint=…`) or a
 * long run of hex digits. Taken as a name it would never match, refusing every handshake.
 */
const NOT_A_NAME = /[:=]|^[0-9a-f]{32,}$/i;

/** `ssp.nhs.uk, sha256:AB:CD:…` → names (lower-case) and fingerprints (upper-case hex); a ConfigError for a fingerprint that is not SHA-256. */
export function parseAllowList(value: string | undefined): AllowList {
  const list: AllowList = { names: new Set(), fingerprints: new Set() };
  for (const entry of listSetting(value)) {
    const fp = FINGERPRINT.exec(entry);
    if (fp) list.fingerprints.add((fp[1] as string).replace(/:/g, '').toUpperCase());
    else if (NOT_A_NAME.test(entry)) {
      throw new ConfigError(
        `FACADE_TLS_ALLOWED_CLIENTS: ${JSON.stringify(entry)} is neither a certificate name nor a SHA-256 fingerprint (32 hex bytes, colons and a sha256: prefix optional); get the fingerprint with \`openssl x509 -in ssp.crt -noout -fingerprint -sha256\` (without -sha256 openssl prints SHA-1)`,
      );
    } else list.names.add(entry.toLowerCase());
  }
  return list;
}

export function identityOf(cert: PeerCertificate): ClientIdentity {
  const cn = cert.subject?.CN as string | string[] | undefined;
  const dnsNames = (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4).toLowerCase());
  return {
    commonNames: (Array.isArray(cn) ? cn : cn ? [cn] : []).map((n) => n.toLowerCase()),
    dnsNames,
    fingerprint256: (cert.fingerprint256 ?? '').replace(/:/g, '').toUpperCase(),
  };
}

/**
 * On the list by SHA-256 fingerprint, subject CN or a SAN DNS name. A subject with more than one
 * CN names no single identity (which one would the audit trail record?): it is refused outright,
 * even when pinned by fingerprint.
 */
export function isAllowed(identity: ClientIdentity, list: AllowList): boolean {
  if (identity.commonNames.length > 1) return false;
  if (identity.fingerprint256 && list.fingerprints.has(identity.fingerprint256)) return true;
  return [...identity.commonNames, ...identity.dnsNames].some((n) => list.names.has(n));
}

/** The https.createServer options for the settings; a ConfigError names what is missing or wrong. */
export function tlsServerOptions(settings: SecuritySettings): { serverOptions: ServerOptions; allowList: AllowList } {
  for (const name of ['FACADE_TLS_CERT', 'FACADE_TLS_KEY', 'FACADE_TLS_CA', 'FACADE_TLS_ALLOWED_CLIENTS'] as const) {
    if (!settings[name]) {
      throw new ConfigError(`${name}: required when FACADE_TLS=on (the default)${name === 'FACADE_TLS_ALLOWED_CLIENTS' ? '' : `; set ${name}_FILE to a PEM file`}; FACADE_TLS=off serves plain HTTP (demo only)`);
    }
  }
  const allowList = parseAllowList(settings.FACADE_TLS_ALLOWED_CLIENTS);
  for (const name of ['FACADE_TLS_CERT', 'FACADE_TLS_CA'] as const) {
    try {
      new X509Certificate(settings[name] as string);
    } catch {
      throw new ConfigError(`${name}: not a PEM certificate`);
    }
  }
  // One list per PEM block: OpenSSL reads only the first CRL of a string, so a file holding the
  // root's and the issuing CA's lists is passed as an array.
  const crls = crlBlocks(settings.FACADE_TLS_CRL ?? '');
  if (settings.FACADE_TLS_CRL) {
    try {
      if (crls.length === 0) throw new Error('no "X509 CRL" PEM block');
      createSecureContext({ ca: settings.FACADE_TLS_CA, crl: crls });
    } catch (error) {
      throw new ConfigError(`FACADE_TLS_CRL: not a PEM certificate revocation list (${(error as Error).message})`);
    }
    const uncovered = casWithoutCrl(settings.FACADE_TLS_CA as string, crls);
    if (uncovered.length > 0) {
      throw new ConfigError(
        `FACADE_TLS_CRL: no revocation list for ${uncovered.map((ca) => `"${ca}"`).join(', ')} of FACADE_TLS_CA; with CRLs OpenSSL checks every CA of a chain and refuses every certificate under one without its list: add its CRL (or leave FACADE_TLS_CRL unset)`,
      );
    }
  }
  const serverOptions: ServerOptions = {
    cert: settings.FACADE_TLS_CERT,
    key: settings.FACADE_TLS_KEY,
    ...(settings.FACADE_TLS_KEY_PASSPHRASE ? { passphrase: settings.FACADE_TLS_KEY_PASSPHRASE } : {}),
    ca: settings.FACADE_TLS_CA,
    // With CRLs OpenSSL checks every certificate of the chain against its issuer's list (Node sets CRL_CHECK_ALL).
    ...(crls.length > 0 ? { crl: crls } : {}),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: settings.FACADE_TLS_MIN_VERSION,
    ciphers: settings.FACADE_TLS_CIPHERS,
    honorCipherOrder: true,
  };
  checkSecureContext(serverOptions);
  return { allowList, serverOptions };
}

/**
 * Builds the context once, as the listener will: a key that is not the certificate's, a passphrase
 * that does not open the key, or a cipher list OpenSSL matches nothing in would otherwise pass
 * start-up checks and crash the listener (or fail a reload) with OpenSSL's words alone.
 */
function checkSecureContext(options: ServerOptions): void {
  try {
    createSecureContext(options);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const why = message.split('\n')[0];
    if (code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH') {
      throw new ConfigError('FACADE_TLS_KEY: not the private key of FACADE_TLS_CERT (its first certificate); give the key the certificate was issued for');
    }
    if (code === 'ERR_OSSL_BAD_DECRYPT') {
      throw new ConfigError(
        options.passphrase ? 'FACADE_TLS_KEY_PASSPHRASE: does not open the encrypted FACADE_TLS_KEY' : 'FACADE_TLS_KEY_PASSPHRASE: required: FACADE_TLS_KEY is encrypted (or is not a PEM private key)',
      );
    }
    if (code === 'ERR_SSL_NO_CIPHER_MATCH') {
      throw new ConfigError(`FACADE_TLS_CIPHERS: OpenSSL knows no cipher in ${JSON.stringify(options.ciphers)}; give an OpenSSL cipher list (\`openssl ciphers -v 'LIST'\` shows what one matches) or leave it unset for GP Connect's`);
    }
    throw new ConfigError(`FACADE_TLS_KEY: OpenSSL cannot use it with FACADE_TLS_CERT (${why}); give the PEM private key of that certificate`);
  }
}

/** Each "X509 CRL" PEM block of a FACADE_TLS_CRL, one list each. */
export function crlBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
}

/** The subjects of the CA certificates in `caPem` that no CRL in `crls` is issued by. */
export function casWithoutCrl(caPem: string, crls: string[]): string[] {
  const issuers = new Set(crls.map((crl) => new X509Crl(crl).issuer));
  const cas = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return cas.map((ca) => new PemCertificate(ca).subject).filter((subject) => !issuers.has(subject));
}

export const TLS_EXPIRY_KINDS = ['server_certificate', 'server_chain', 'client_ca', 'crl'] as const;

/** A date past which the TLS material stops working: a certificate's notAfter, or a CRL's nextUpdate. */
export interface TlsExpiry {
  /**
   * `server_certificate` (consumers refuse it after), `server_chain` (an intermediate sent with it),
   * `client_ca` (every client it issued is refused after), `crl` (every client certificate of its CA is refused after).
   */
  kind: (typeof TLS_EXPIRY_KINDS)[number];
  /** The certificate's subject, or the CRL's issuer. */
  subject: string;
  /** The first 16 hex digits of the SHA-256 of the block: tells apart two with one subject (a re-keyed CA, an old and a new CRL). */
  id: string;
  at: Date;
}

const expiriesOf = new WeakMap<ServerOptions, TlsExpiry[]>();

/**
 * What in this material expires, and when (computed once per loaded set). A CRL without a next
 * update never expires. A block that does not parse is left out (OpenSSL skips it too): it must not
 * cost the metrics scrape, and with it every other alert.
 */
export function tlsExpiries(options: ServerOptions): TlsExpiry[] {
  let found = expiriesOf.get(options);
  if (found) return found;
  const pems = (value: unknown): string[] => (Array.isArray(value) ? value : value ? [value] : []).map(String);
  const certificates = (value: unknown) => pems(value).flatMap((pem) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []);
  const parsed = <T>(parse: () => T): T[] => {
    try {
      return [parse()];
    } catch {
      return [];
    }
  };
  const certificate = (kind: TlsExpiry['kind'], pem: string) =>
    parsed(() => {
      const c = new PemCertificate(pem);
      return { kind, subject: c.subject, id: shortId(c.rawData), at: c.notAfter };
    });
  const [leaf, ...chain] = certificates(options.cert);
  found = [
    ...(leaf ? certificate('server_certificate', leaf) : []),
    ...chain.flatMap((pem) => certificate('server_chain', pem)),
    ...certificates(options.ca).flatMap((pem) => certificate('client_ca', pem)),
    ...pems(options.crl)
      .flatMap(crlBlocks)
      .flatMap((pem) => parsed(() => new X509Crl(pem)))
      .flatMap((crl) => (crl.nextUpdate ? [{ kind: 'crl' as const, subject: crl.issuer, id: shortId(crl.rawData), at: crl.nextUpdate }] : [])),
  ];
  expiriesOf.set(options, found);
  return found;
}

const shortId = (der: ArrayBuffer) => createHash('sha256').update(Buffer.from(der)).digest('hex').slice(0, 16);

/** Identities of the sockets that passed the allow-list (for the audit trail). */
const identities = new WeakMap<object, ClientIdentity>();

export function clientIdentityOf(socket: object | undefined): ClientIdentity | undefined {
  return socket ? identities.get(socket) : undefined;
}

/**
 * Destroys a connection whose certificate is not on the allow-list as soon as the handshake ends.
 * Prepended, so it runs before the HTTP server attaches its parser to the socket. `list` is read
 * at each handshake, so a reloaded allow-list applies to the next connection.
 */
export function enforceAllowList(server: TlsServer, list: () => AllowList, onRefused: (socket: TLSSocket, identity: ClientIdentity | undefined) => void): void {
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const cert = socket.getPeerCertificate();
    const identity = cert && Object.keys(cert).length > 0 ? identityOf(cert) : undefined;
    if (socket.authorized && identity && isAllowed(identity, list())) {
      identities.set(socket, identity);
      return;
    }
    onRefused(socket, identity);
    socket.destroy();
  });
}
