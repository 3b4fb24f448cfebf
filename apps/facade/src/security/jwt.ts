import { createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, type JWTPayload } from 'jose';

/**
 * The Booking Standard JWT (spec §5, §18, §19 #2/#21). Two ways to authenticate the token:
 *  - unsigned (the default): what the SSP carries today, `alg: none` with an empty signature;
 *  - signed: when a public key or a JWKS URL is configured, only tokens signed with an allowed
 *    algorithm and a configured key are accepted, and `alg: none` is refused.
 * Either way the claims then go through the one `checkClaims` function. Every failure names the
 * check that failed and never echoes the token or a claim value.
 */

export interface JwtPolicy {
  /** The service root; `aud` must equal it. */
  audience: string;
  /** The scopes the interaction accepts; `requested_scope` must be one of them. */
  scopes: readonly string[];
  clockSkewSeconds: number;
  /** When set, `iss` must be one of these. */
  issuers?: readonly string[];
  now?: () => number;
}

/** What the rest of the facade (routes, audit) learns from an accepted token: identifiers, no names (see peekAuthorNames). */
export interface BookingClaims {
  iss: string;
  sub: string;
  requestedScope: string;
  organizationOds?: string;
  deviceId?: string;
  practitionerId?: string;
  practitionerSdsUserId?: string;
  practitionerSdsRoleProfileId?: string;
}

export type JwtCheck = { ok: true; claims: BookingClaims } | { ok: false; reason: string };

/** Checks an Authorization header against a policy; unsigned or signed, see `createJwtVerifier`. */
export type JwtVerifier = (authorization: string | undefined, policy: JwtPolicy) => Promise<JwtCheck>;

/** Algorithms a signed token may use: asymmetric only, so a public key can never serve as an HMAC secret. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export const DEFAULT_ALGORITHMS = 'RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,ES512';

export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
const SDS_USER_SYSTEM = 'https://fhir.nhs.uk/Id/sds-user-id';
const SDS_ROLE_SYSTEM = 'https://fhir.nhs.uk/Id/sds-role-profile-id';
const BASE64URL_PART = /^[A-Za-z0-9_-]+$/;
const ODS_CODE = /^[A-Za-z0-9]{3,10}$/;
const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_EXP_MINUS_IAT = 300;

const fail = (reason: string): JwtCheck => ({ ok: false, reason });

// ---------------------------------------------------------------------------------------------
// Verifiers

/** The unsigned (SSP) mode, synchronous: structure, `alg: none`, empty signature, then the claims. */
export function checkBookingJwt(authorization: string | undefined, policy: JwtPolicy): JwtCheck {
  const bearer = bearerToken(authorization);
  if (typeof bearer !== 'string') return bearer;
  const parts = bearer.split('.');
  const header = decodeHeader(bearer);
  if (!header) return fail('the JWT header is not base64url-encoded JSON');
  if (header.alg !== 'none') return fail('the JWT must be unsigned (alg "none") as carried by the SSP');
  if (parts[2] !== '') return fail('an unsigned JWT must have an empty signature');
  let payload: JWTPayload;
  try {
    payload = decodeJwt(bearer);
  } catch {
    return fail('the JWT payload is not a base64url-encoded JSON object');
  }
  return checkClaims(payload, policy);
}

export const unsignedJwtVerifier: JwtVerifier = async (authorization, policy) => checkBookingJwt(authorization, policy);

export interface SignedJwtOptions {
  /** A public key (from a PEM key or certificate), or a key set function such as createRemoteJWKSet's. */
  key: KeyObject | Parameters<typeof compactVerify>[1];
  algorithms: readonly string[];
}

/**
 * The signed mode. jose's compactVerify checks the signature, the algorithm allow-list and `crit`;
 * the claims are then checked by `checkClaims` exactly as in the unsigned mode (jwtVerify would
 * also judge exp/iat, by its own rules and with its own messages).
 */
export function signedJwtVerifier(options: SignedJwtOptions): JwtVerifier {
  const allowed = new Set(options.algorithms);
  return async (authorization, policy) => {
    const bearer = bearerToken(authorization);
    if (typeof bearer !== 'string') return bearer;
    const header = decodeHeader(bearer);
    if (!header) return fail('the JWT header is not base64url-encoded JSON');
    if (typeof header.alg !== 'string' || header.alg.toLowerCase() === 'none') return fail('the JWT must be signed: alg "none" is not accepted');
    if (!allowed.has(header.alg)) return fail(`the JWT algorithm is not allowed (allowed: ${[...allowed].join(', ')})`);
    if (bearer.endsWith('.')) return fail('the JWT signature is missing');
    let payloadBytes: Uint8Array;
    try {
      ({ payload: payloadBytes } = await compactVerify(bearer, options.key as Parameters<typeof compactVerify>[1], { algorithms: [...allowed] }));
    } catch (error) {
      return fail(signatureFailure(error));
    }
    let payload: unknown;
    try {
      payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payloadBytes));
    } catch {
      return fail('the JWT payload is not a base64url-encoded JSON object');
    }
    if (!isObject(payload)) return fail('the JWT payload is not a base64url-encoded JSON object');
    return checkClaims(payload, policy);
  };
}

function signatureFailure(error: unknown): string {
  if (error instanceof errors.JWKSNoMatchingKey) return 'no configured signing key matches the JWT (kid/alg)';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return 'the signing keys could not be fetched to verify the JWT';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the JWT algorithm is not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the JWT signature does not verify';
  if (error instanceof errors.JOSENotSupported) return 'the JWT uses an unsupported algorithm, key or critical header';
  return 'the JWT signature could not be verified';
}

export interface JwtSettings {
  JWT_JWKS_URL?: string | undefined;
  /** PEM public key or certificate (usually given as JWT_PUBLIC_KEY_FILE). */
  JWT_PUBLIC_KEY?: string | undefined;
  JWT_ALGORITHMS: string;
}

/** The verifier the settings ask for; throws an Error naming the setting when they are wrong. */
export function createJwtVerifier(settings: JwtSettings): { verify: JwtVerifier; mode: 'unsigned' | 'signed' } {
  const algorithms = parseAlgorithms(settings.JWT_ALGORITHMS);
  if (settings.JWT_JWKS_URL && settings.JWT_PUBLIC_KEY) throw new Error('JWT_JWKS_URL and JWT_PUBLIC_KEY: set only one of them');
  if (settings.JWT_PUBLIC_KEY) {
    let key: KeyObject;
    try {
      key = createPublicKey(settings.JWT_PUBLIC_KEY); // a PEM public key or X.509 certificate
    } catch {
      throw new Error('JWT_PUBLIC_KEY: not a PEM public key or certificate');
    }
    return { verify: signedJwtVerifier({ key, algorithms }), mode: 'signed' };
  }
  if (settings.JWT_JWKS_URL) {
    const url = new URL(settings.JWT_JWKS_URL);
    const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new Error('JWT_JWKS_URL: must be https (plain http only on loopback)');
    const jwks = createRemoteJWKSet(url, { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
    return { verify: signedJwtVerifier({ key: jwks, algorithms }), mode: 'signed' };
  }
  return { verify: unsignedJwtVerifier, mode: 'unsigned' };
}

export function parseAlgorithms(list: string): string[] {
  const algorithms = list.split(',').map((a) => a.trim()).filter(Boolean);
  const unknown = algorithms.filter((a) => !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(a));
  if (algorithms.length === 0 || unknown.length > 0) {
    throw new Error(`JWT_ALGORITHMS: only asymmetric JWS algorithms are allowed (${ASYMMETRIC_ALGORITHMS.join(', ')}); got ${JSON.stringify(list)}`);
  }
  return algorithms;
}

// ---------------------------------------------------------------------------------------------
// Structure

/** `Bearer <token>`; the scheme name is case-insensitive (RFC 7235 §2.1, RFC 6750 §2.1). */
const BEARER = /^\s?Bearer\s+(\S+)\s*$/i;

/** The token from `Authorization: Bearer <jwt>`, checked for three base64url parts; or why not. */
function bearerToken(authorization: string | undefined): string | JwtCheck {
  if (!authorization) return fail('the Authorization header is missing');
  const match = BEARER.exec(authorization);
  if (!match) return fail('the Authorization header must be "Bearer <JWT>"');
  const token = match[1] as string;
  if (token.length > MAX_TOKEN_LENGTH) return fail('the JWT is too long');
  const parts = token.split('.');
  if (parts.length !== 3 || !BASE64URL_PART.test(parts[0] as string) || !BASE64URL_PART.test(parts[1] as string) || !/^[A-Za-z0-9_-]*$/.test(parts[2] as string)) {
    return fail('the JWT must have three base64url parts');
  }
  return token;
}

function decodeHeader(token: string): Record<string, unknown> | undefined {
  try {
    return decodeProtectedHeader(token) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Claims: one function for both modes

/** Every claim check of spec §5.2/§5.3, in order; the first failure is the answer. */
export function checkClaims(payload: Record<string, unknown>, policy: JwtPolicy): JwtCheck {
  for (const claim of ['iss', 'sub', 'aud', 'reason_for_request', 'requested_scope'] as const) {
    if (typeof payload[claim] !== 'string' || payload[claim] === '') return fail(`claim "${claim}" is missing or not a string`);
  }
  for (const claim of ['iat', 'exp'] as const) {
    const v = payload[claim];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) return fail(`claim "${claim}" is missing or not an integer (Unix seconds)`);
  }
  for (const claim of ['requesting_device', 'requesting_organization'] as const) {
    if (!isObject(payload[claim])) return fail(`claim "${claim}" is missing or not an object`);
  }
  const { iss, sub, iat, exp } = payload as { iss: string; sub: string; iat: number; exp: number };
  if (iss.length > 2048) return fail('claim "iss" is too long');
  if (policy.issuers?.length && !policy.issuers.includes(iss)) return fail('claim "iss" is not an accepted issuer');
  if (sub.length > 256) return fail('claim "sub" is too long');
  if (payload.aud !== policy.audience) return fail(`claim "aud" must be this provider's service root ${policy.audience}`);

  const now = Math.floor((policy.now?.() ?? Date.now()) / 1000);
  const skew = policy.clockSkewSeconds;
  if (iat > now + skew) return fail('claim "iat" is in the future');
  if (exp <= now - skew) return fail('the JWT has expired (claim "exp")');
  if (exp <= iat || exp - iat > MAX_EXP_MINUS_IAT) return fail(`claim "exp" must be after "iat" and at most ${MAX_EXP_MINUS_IAT} seconds later`);
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > now + skew)) return fail('claim "nbf" is not an integer or is in the future');

  if (payload.reason_for_request !== 'directcare') return fail('claim "reason_for_request" must be "directcare"');
  if (!policy.scopes.includes(payload.requested_scope as string)) {
    return fail(`claim "requested_scope" must be ${policy.scopes.map((s) => `"${s}"`).join(' or ')} for this interaction`);
  }

  const device = payload.requesting_device as Record<string, unknown>;
  if (device.resourceType !== 'Device' || !hasIdentifier(device) || !nonEmptyString(device.model) || !nonEmptyString(device.version)) {
    return fail('claim "requesting_device" must be a Device with identifier (system and value), model and version');
  }
  const org = payload.requesting_organization as Record<string, unknown>;
  const ods = org.resourceType === 'Organization' ? identifierValue(org, ODS_SYSTEM) : undefined;
  if (!ods || !ODS_CODE.test(ods) || !nonEmptyString(org.name)) {
    return fail(`claim "requesting_organization" must be an Organization with a name and an ${ODS_SYSTEM} identifier holding an ODS code`);
  }
  const practitioner = payload.requesting_practitioner;
  if (practitioner !== undefined) {
    if (!isObject(practitioner) || practitioner.resourceType !== 'Practitioner') return fail('claim "requesting_practitioner" must be a Practitioner');
    if (practitioner.id !== sub) return fail('claim "requesting_practitioner" id must equal "sub"');
    if (practitioner.identifier !== undefined && !Array.isArray(practitioner.identifier)) return fail('claim "requesting_practitioner" identifier must be a list');
  }
  return { ok: true, claims: provenance(payload) as BookingClaims };
}

/**
 * The provenance in a token that may not have passed its checks (for the audit trail): only
 * identifiers, each bounded, never names. Undefined when the token does not even decode.
 */
export function peekProvenance(authorization: string | undefined): Partial<BookingClaims> | undefined {
  const payload = peekPayload(authorization);
  return payload && provenance(payload);
}

/** The claims of a bearer token, unchecked (for the audit trail); undefined when it does not decode. */
function peekPayload(authorization: string | undefined): Record<string, unknown> | undefined {
  const token = BEARER.exec(authorization ?? '')?.[1];
  if (!token || token.length > MAX_TOKEN_LENGTH) return undefined;
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}

function provenance(payload: Record<string, unknown>): Partial<BookingClaims> {
  const device = isObject(payload.requesting_device) ? payload.requesting_device : {};
  const org = isObject(payload.requesting_organization) ? payload.requesting_organization : {};
  const practitioner = isObject(payload.requesting_practitioner) ? payload.requesting_practitioner : undefined;
  const out: Partial<BookingClaims> = {
    iss: bounded(payload.iss, 2048),
    sub: bounded(payload.sub),
    requestedScope: bounded(payload.requested_scope),
    organizationOds: bounded(identifierValue(org, ODS_SYSTEM)),
    deviceId: bounded(identifiers(device)[0]?.value),
  };
  if (practitioner) {
    out.practitionerId = bounded(practitioner.id);
    out.practitionerSdsUserId = bounded(identifierValue(practitioner, SDS_USER_SYSTEM));
    out.practitionerSdsRoleProfileId = bounded(identifierValue(practitioner, SDS_ROLE_SYSTEM));
  }
  return definedOnly(out);
}

/**
 * The author's and the originating organisation's names in a token, for the audit record of a
 * create or update, where spec §5.3 requires them (staff and organisation, never patient data).
 * Kept out of BookingClaims so that nothing else in the facade carries names.
 */
export function peekAuthorNames(authorization: string | undefined): { practitionerName?: string; organisationName?: string } {
  const payload = peekPayload(authorization);
  if (!payload) return {};
  const org = isObject(payload.requesting_organization) ? payload.requesting_organization : {};
  const practitioner = isObject(payload.requesting_practitioner) ? payload.requesting_practitioner : {};
  const [name] = Array.isArray(practitioner.name) ? practitioner.name : [];
  const parts = isObject(name) ? [name.prefix, name.given, name.family].flat().filter(nonEmptyString) : [];
  return definedOnly({ practitionerName: bounded(parts.join(' ')), organisationName: bounded(org.name) });
}

/** The object without its undefined members (the audit record leaves them out). */
function definedOnly<T extends object>(out: T): T {
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as T;
}

function bounded(value: unknown, max = 256): string | undefined {
  return typeof value === 'string' && value !== '' ? value.slice(0, max) : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

function identifiers(resource: Record<string, unknown>): { system?: unknown; value?: unknown }[] {
  return Array.isArray(resource.identifier) ? resource.identifier.filter(isObject) : [];
}

function hasIdentifier(resource: Record<string, unknown>): boolean {
  return identifiers(resource).some((i) => nonEmptyString(i.system) && nonEmptyString(i.value));
}

function identifierValue(resource: Record<string, unknown>, system: string): string | undefined {
  const v = identifiers(resource).find((i) => i.system === system)?.value;
  return typeof v === 'string' && v !== '' ? v : undefined;
}
