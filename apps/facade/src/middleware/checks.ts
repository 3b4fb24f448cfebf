import { problems } from '@booking/fhir';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env.js';
import { refuse } from '../problem-error.js';
import { allowedMethods, resolveInteraction } from '../interactions.js';
import { requestHeader, UUID } from '../request-headers.js';
import { type JwtVerifier, unsignedJwtVerifier } from '../security/jwt.js';

/**
 * The request checks, in the order the NHS assurance harness expects (spec §18), with one addition
 * its cases show: a GET /Slot query is judged before the JWT. Each throws its refusal to onError.
 */

/** 1. Route and verb: unknown path → 404, wrong verb → 405. */
export function interactionCheck(basePath: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const path = c.req.path.startsWith(basePath) ? c.req.path.slice(basePath.length) : c.req.path;
    const found = resolveInteraction(c.req.method, path);
    if (found === 'not-found') refuse(problems.notFound(`No such resource or interaction: ${c.req.method} ${path}`));
    if (found === 'method-not-allowed') {
      c.header('Allow', allowedMethods(path).join(', '));
      refuse(problems.methodNotAllowed(`${c.req.method} is not supported on ${path}`));
    }
    c.set('interaction', found);
    await next();
  });
}

/**
 * 2. GET /Slot only: the query's own rules → 400 INVALID_PARAMETER, before the JWT. The harness's
 * SFFSWithInvalidQuery sends a bogus parameter with a bad `aud` and expects 400 (SFFSWithInvalidJWTaud,
 * the same token with a valid query, expects 403). The interaction table says which interaction has one.
 */
export function queryCheck(baseUrl: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    c.get('interaction').checkQuery?.(c, baseUrl);
    await next();
  });
}

/** 3. JWT → 403; unsigned (SSP) unless a signed-token verifier is given (security/jwt.ts). */
export function jwtCheck(options: { audience: string; clockSkewSeconds: number; issuers?: readonly string[]; verify?: JwtVerifier }) {
  const { verify = unsignedJwtVerifier, ...policy } = options;
  return createMiddleware<AppEnv>(async (c, next) => {
    const result = await verify(requestHeader(c, 'Authorization'), { ...policy, scopes: c.get('interaction').scopes });
    if (!result.ok) refuse(problems.forbidden(`JWT rejected: ${result.reason}`));
    c.set('claims', result.claims);
    await next();
  });
}

const ASID = /^\d{12}$/;

/** 4. SSP headers and X-Request-ID → 400 (spec §3.1, §6). */
export function sspHeaderCheck(options: { providerAsid: string }) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const interaction = c.get('interaction');
    const header = (name: string) => requestHeader(c, name)?.trim();
    const bad = (why: string) => refuse(problems.invalidHeader(why));
    if (!UUID.test(header('Ssp-TraceID') ?? '')) return bad('Ssp-TraceID must be a UUID');
    if (!ASID.test(header('Ssp-From') ?? '')) return bad('Ssp-From must be the consumer\u2019s 12-digit ASID');
    if (header('Ssp-To') !== options.providerAsid) return bad(`Ssp-To must be this provider's ASID ${options.providerAsid}`);
    if (header('Ssp-InteractionID') !== interaction.interactionId) return bad(`Ssp-InteractionID must be ${interaction.interactionId} for ${c.req.method} ${interaction.name}`);
    // The harness and fs_xti send a UUID; it keys the PAS request log, so nothing else is let in.
    if (interaction.method !== 'GET' && !UUID.test(header('X-Request-ID') ?? '')) return bad('X-Request-ID is required on POST and PUT, and must be a UUID');
    await next();
  });
}
