import { ConfigError } from '@booking/config';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { nodeRequest } from '../request-headers.js';
import { createJwtVerifier, type JwtVerifier } from './jwt.js';
import { listSetting, type SecuritySettings } from './settings.js';
import { tlsServerOptions } from './tls.js';

export { crlBlocks } from './tls.js';
import type { TlsMaterial } from './tls-reload.js';

/** Everything the facade's security settings turn into, checked at startup (ConfigError names the setting). */
export interface SecuritySetup {
  /** Absent when FACADE_TLS=off. */
  tls?: TlsMaterial;
  jwt: { verify: JwtVerifier; mode: 'unsigned' | 'signed'; issuers: string[] };
}

export function securitySetup(settings: SecuritySettings): SecuritySetup {
  let jwt: { verify: JwtVerifier; mode: 'unsigned' | 'signed' };
  try {
    jwt = createJwtVerifier(settings);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  return {
    ...(settings.FACADE_TLS === 'on' ? { tls: tlsServerOptions(settings) } : {}),
    jwt: { ...jwt, issuers: listSetting(settings.JWT_ISSUERS) },
  };
}

/** One year of HSTS on TLS answers (spec §2); on plain HTTP the header would be meaningless. */
export const HSTS = 'max-age=31536000; includeSubDomains';

/**
 * Response headers for every consumer answer: Hono's secure headers (nosniff, no framing, no
 * referrer), HSTS when the listener is TLS, and `Connection: close` when the answer leaves part of
 * the request body unread (a refusal before the body was needed): the adapter stops draining such
 * a body after 500 ms and closes the socket, and a keep-alive client told nothing would reuse it.
 */
export function securityHeaders(tls: boolean): MiddlewareHandler {
  const secure = secureHeaders({ strictTransportSecurity: tls ? HSTS : false });
  return async (c, next) => {
    await secure(c, next);
    const incoming = nodeRequest(c);
    if (incoming && !incoming.complete) c.res.headers.set('Connection', 'close');
  };
}

/**
 * The same hardening headers as name/value pairs, for the answers the listener writes by hand
 * (431, 400 before Hono sees a request): taken from the middleware itself, so they cannot drift.
 */
export async function securityHeaderFields(tls: boolean): Promise<[string, string][]> {
  const probe = new Hono().use(securityHeaders(tls)).get('/', (c) => c.body(null, 204));
  const res = await probe.request('/');
  return [...res.headers.entries()];
}

/**
 * True when reading the request failed because the client closed the connection mid-request (a
 * body cut short): nothing the facade did wrong, and no answer can reach the client. Logged at
 * info, never as an unhandled error (which would page someone).
 */
export function isClientAbort(error: Error, c: Context): boolean {
  const incoming = nodeRequest(c);
  const reset = (error as NodeJS.ErrnoException).code === 'ECONNRESET' || error.message === 'aborted';
  return reset && incoming !== undefined && (incoming.destroyed || !incoming.complete);
}
