import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';

/**
 * The Booking Standard JWT (spec §5). The SSP carries unsigned tokens (`alg: none`, empty
 * signature); every claim is still checked, and each failure names the check that failed
 * without echoing the token.
 */

export interface JwtPolicy {
  /** The service root; `aud` must equal it. */
  audience: string;
  /** The scope the interaction needs. */
  scope: string;
  clockSkewSeconds: number;
  now?: () => number;
}

export interface BookingClaims {
  iss: string;
  sub: string;
  requestedScope: string;
  organizationOds?: string;
  deviceId?: string;
  practitionerId?: string;
}

export type JwtCheck = { ok: true; claims: BookingClaims } | { ok: false; reason: string };

const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
const BASE64URL_PART = /^[A-Za-z0-9_-]+$/;
const MAX_TOKEN_LENGTH = 16 * 1024;

export function checkBookingJwt(authorization: string | undefined, policy: JwtPolicy): JwtCheck {
  const fail = (reason: string): JwtCheck => ({ ok: false, reason });
  if (!authorization) return fail('the Authorization header is missing');
  const match = /^\s?Bearer\s+(\S+)\s*$/.exec(authorization);
  if (!match) return fail('the Authorization header must be "Bearer <JWT>"');
  const token = match[1] as string;
  if (token.length > MAX_TOKEN_LENGTH) return fail('the JWT is too long');
  const parts = token.split('.');
  if (parts.length !== 3 || !BASE64URL_PART.test(parts[0] as string) || !BASE64URL_PART.test(parts[1] as string)) {
    return fail('the JWT must have three base64url parts');
  }

  let header: ReturnType<typeof decodeProtectedHeader>;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    payload = decodeJwt(token);
  } catch {
    return fail('the JWT header or payload is not base64url-encoded JSON');
  }
  if (header.alg !== 'none') return fail('the JWT must be unsigned (alg "none") as carried by the SSP');
  if (parts[2] !== '') return fail('an unsigned JWT must have an empty signature');

  for (const claim of ['iss', 'sub', 'aud', 'reason_for_request', 'requested_scope'] as const) {
    if (typeof payload[claim] !== 'string' || payload[claim] === '') return fail(`claim "${claim}" is missing or not a string`);
  }
  for (const claim of ['iat', 'exp'] as const) {
    if (typeof payload[claim] !== 'number' || !Number.isInteger(payload[claim])) return fail(`claim "${claim}" is missing or not an integer`);
  }
  const { iat, exp } = payload as { iat: number; exp: number };
  const now = Math.floor((policy.now?.() ?? Date.now()) / 1000);
  if (payload.aud !== policy.audience) return fail(`claim "aud" must be this provider's service root ${policy.audience}`);
  if (iat > now + policy.clockSkewSeconds) return fail('claim "iat" is in the future');
  if (exp <= now - policy.clockSkewSeconds) return fail('the JWT has expired (claim "exp")');
  if (exp <= iat || exp - iat > 300) return fail('claim "exp" must be after "iat" and at most 300 seconds later');
  if (payload.reason_for_request !== 'directcare') return fail('claim "reason_for_request" must be "directcare"');
  if (payload.requested_scope !== policy.scope) return fail(`claim "requested_scope" must be "${policy.scope}" for this interaction`);

  const device = payload.requesting_device as Record<string, unknown> | undefined;
  if (!isResource(device, 'Device') || !hasIdentifier(device) || typeof device.model !== 'string' || typeof device.version !== 'string') {
    return fail('claim "requesting_device" must be a Device with identifier, model and version');
  }
  const org = payload.requesting_organization as Record<string, unknown> | undefined;
  const ods = isResource(org, 'Organization') ? identifierValue(org, ODS_SYSTEM) : undefined;
  if (!ods || typeof org?.name !== 'string') {
    return fail(`claim "requesting_organization" must be an Organization with a name and an ${ODS_SYSTEM} identifier`);
  }
  const practitioner = payload.requesting_practitioner as Record<string, unknown> | undefined;
  if (practitioner !== undefined) {
    if (!isResource(practitioner, 'Practitioner')) return fail('claim "requesting_practitioner" must be a Practitioner');
    if (practitioner.id !== payload.sub) return fail('claim "requesting_practitioner" id must equal "sub"');
  }
  return {
    ok: true,
    claims: {
      iss: payload.iss as string,
      sub: payload.sub as string,
      requestedScope: payload.requested_scope as string,
      organizationOds: ods,
      deviceId: firstIdentifierValue(device),
      ...(practitioner ? { practitionerId: String(practitioner.id) } : {}),
    },
  };
}

function isResource(value: unknown, type: string): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>).resourceType === type;
}

function identifiers(resource: Record<string, unknown>): { system?: unknown; value?: unknown }[] {
  return Array.isArray(resource.identifier) ? resource.identifier.filter((i) => typeof i === 'object' && i !== null) : [];
}

function hasIdentifier(resource: Record<string, unknown>): boolean {
  return identifiers(resource).some((i) => typeof i.system === 'string' && typeof i.value === 'string' && i.value !== '');
}

function identifierValue(resource: Record<string, unknown>, system: string): string | undefined {
  const v = identifiers(resource).find((i) => i.system === system)?.value;
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function firstIdentifierValue(resource: Record<string, unknown>): string | undefined {
  const v = identifiers(resource)[0]?.value;
  return typeof v === 'string' ? v : undefined;
}
