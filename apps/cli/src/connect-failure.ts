/**
 * Why a connection attempt failed. Only a network failure means the service "could not be reached
 * at all" (exit 69, docs/install.md): a refused login or a certificate this machine does not trust
 * came from a service that is there, so it is a finding whose fix names the setting to change.
 */
export type ConnectFailure = 'network' | 'credentials' | 'tls' | 'other';

/** OpenSSL's verification codes, Node's TLS codes, and tedious's "server requires encryption". */
const TLS_CODE = /^(?:CERT_|UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|HOSTNAME_MISMATCH|ERR_TLS_|ERR_SSL_|EENCRYPT$)/;
/** The same failures as messages say them (ioredis's Sentinel connector keeps only the message). */
const TLS_MESSAGE = /certificate|\bSSL\b|wrong version number|server requires encryption/i;
/** tedious's refused logins; Redis's refusals of AUTH (ReplyErrors carry no code, only the first word). */
const CREDENTIALS_CODE = /^(?:ELOGIN|EFEDAUTH)$/;
const CREDENTIALS_MESSAGE = /\b(?:WRONGPASS|NOAUTH|NOPERM)\b|Login failed|password/i;
/** The socket never got an answer: refused, timed out, no route, no such name, reset before any reply; tedious's socket, timeout and SQL Browser failures. */
const NETWORK = /\b(?:ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENETDOWN|ENOTFOUND|EAI_AGAIN|ECONNRESET|EADDRNOTAVAIL|ETIMEOUT|ESOCKET|EINSTLOOKUP)\b/;

/** The error and every error under it: `cause`, mssql's `originalError`, an AggregateError's `errors`. */
function chain(error: unknown, depth = 0): { code?: string; message: string }[] {
  if (!error || typeof error !== 'object' || depth > 5) return [];
  const e = error as { code?: unknown; message?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  const here = { code: typeof e.code === 'string' ? e.code : undefined, message: typeof e.message === 'string' ? e.message : '' };
  const under = [e.cause, e.originalError, ...(Array.isArray(e.errors) ? e.errors : [])].flatMap((x) => chain(x, depth + 1));
  return [here, ...under];
}

export function connectFailure(error: unknown): ConnectFailure {
  const errors = chain(error);
  const any = (code: RegExp, message: RegExp) => errors.some((e) => (e.code !== undefined && code.test(e.code)) || message.test(e.message));
  // A TLS failure or a refused login anywhere under a socket error (tedious's ESOCKET) decides it.
  if (any(TLS_CODE, TLS_MESSAGE)) return 'tls';
  if (any(CREDENTIALS_CODE, CREDENTIALS_MESSAGE)) return 'credentials';
  if (any(NETWORK, NETWORK)) return 'network';
  return 'other';
}
