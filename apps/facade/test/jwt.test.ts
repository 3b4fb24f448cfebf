import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkBookingJwt,
  createJwtVerifier,
  type JwtPolicy,
  type JwtVerifier,
  parseAlgorithms,
  peekProvenance,
  signedJwtVerifier,
  unsignedJwtVerifier,
} from '../src/security/jwt.js';

/** Every JWT check of spec §5 / §18, in unsigned (SSP) and signed mode. */

const AUD = 'https://provider.example.nhs.uk/STU3/1';
const NOW = 1_750_000_000_000; // fixed clock, ms
const IAT = NOW / 1000;
const WRITE = 'patient/appointment.write';
const policy: JwtPolicy = { audience: AUD, scopes: [WRITE], clockSkewSeconds: 60, now: () => NOW };

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    iss: 'https://consumer.example.nhs.uk/',
    sub: '10019',
    aud: AUD,
    exp: IAT + 300,
    iat: IAT,
    reason_for_request: 'directcare',
    requested_scope: WRITE,
    requesting_device: { resourceType: 'Device', identifier: [{ system: 'https://consumer.example.nhs.uk/Id/device', value: 'dev-1' }], model: 'Consumer', version: '1.0' },
    requesting_organization: { resourceType: 'Organization', name: 'Test 111', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RYA' }] },
    requesting_practitioner: {
      resourceType: 'Practitioner',
      id: '10019',
      name: [{ family: 'Tester', given: ['Tess'] }],
      identifier: [
        { system: 'https://fhir.nhs.uk/Id/sds-user-id', value: '111222333444' },
        { system: 'https://fhir.nhs.uk/Id/sds-role-profile-id', value: '444555666777' },
      ],
    },
    ...overrides,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return payload;
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const unsigned = (payload: unknown, header: unknown = { alg: 'none', typ: 'JWT' }) => `${b64(header)}.${b64(payload)}.`;
const bearer = (token: string) => `Bearer ${token}`;

/** Claim mutations and the check each must fail, the same in both modes. */
const CLAIM_CASES: [string, Record<string, unknown>, RegExp][] = [
  ['iss missing', { iss: undefined }, /claim "iss" is missing or not a string/],
  ['iss not a string', { iss: 42 }, /claim "iss" is missing or not a string/],
  ['sub missing', { sub: undefined }, /claim "sub" is missing or not a string/],
  ['sub empty', { sub: '' }, /claim "sub" is missing or not a string/],
  ['aud missing', { aud: undefined }, /claim "aud" is missing or not a string/],
  ['aud a list', { aud: [AUD] }, /claim "aud" is missing or not a string/],
  ['aud another service', { aud: 'https://other.example.nhs.uk/STU3/1' }, /claim "aud" must be this provider's service root/],
  ['aud with a trailing slash', { aud: `${AUD}/` }, /claim "aud" must be/],
  ['reason_for_request missing', { reason_for_request: undefined }, /claim "reason_for_request" is missing/],
  ['reason_for_request wrong', { reason_for_request: 'secondaryuses' }, /claim "reason_for_request" must be "directcare"/],
  ['requested_scope missing', { requested_scope: undefined }, /claim "requested_scope" is missing/],
  ['requested_scope of another interaction', { requested_scope: 'organization/slot.read' }, /claim "requested_scope" must be "patient\/appointment.write"/],
  ['iat missing', { iat: undefined }, /claim "iat" is missing or not an integer/],
  ['iat a string', { iat: String(IAT) }, /claim "iat" is missing or not an integer/],
  ['iat fractional', { iat: IAT + 0.5 }, /claim "iat" is missing or not an integer/],
  ['exp missing', { exp: undefined }, /claim "exp" is missing or not an integer/],
  ['exp negative', { exp: -1 }, /claim "exp" is missing or not an integer/],
  ['iat in the future beyond the skew', { iat: IAT + 61, exp: IAT + 361 }, /claim "iat" is in the future/],
  ['expired beyond the skew', { iat: IAT - 400, exp: IAT - 100 }, /the JWT has expired/],
  ['exp − iat over 300 s', { exp: IAT + 301 }, /at most 300 seconds/],
  ['exp before iat', { exp: IAT - 1 }, /claim "exp" must be after "iat"/],
  ['nbf in the future', { nbf: IAT + 120 }, /claim "nbf"/],
  ['requesting_device missing', { requesting_device: undefined }, /claim "requesting_device" is missing or not an object/],
  ['requesting_device a string', { requesting_device: 'Device' }, /claim "requesting_device" is missing or not an object/],
  ['requesting_device wrong resourceType', { requesting_device: { resourceType: 'Patient', identifier: [{ system: 's', value: 'v' }], model: 'm', version: '1' } }, /claim "requesting_device" must be a Device/],
  ['requesting_device without identifier', { requesting_device: { resourceType: 'Device', model: 'm', version: '1' } }, /claim "requesting_device" must be a Device/],
  ['requesting_device identifier without system', { requesting_device: { resourceType: 'Device', identifier: [{ value: 'v' }], model: 'm', version: '1' } }, /claim "requesting_device"/],
  ['requesting_device without model', { requesting_device: { resourceType: 'Device', identifier: [{ system: 's', value: 'v' }], version: '1' } }, /claim "requesting_device"/],
  ['requesting_device without version', { requesting_device: { resourceType: 'Device', identifier: [{ system: 's', value: 'v' }], model: 'm' } }, /claim "requesting_device"/],
  ['requesting_organization missing', { requesting_organization: undefined }, /claim "requesting_organization" is missing/],
  ['requesting_organization without ODS identifier', { requesting_organization: { resourceType: 'Organization', name: 'X', identifier: [{ system: 'https://example.org/id', value: 'RYA' }] } }, /claim "requesting_organization" must be/],
  ['requesting_organization with a malformed ODS code', { requesting_organization: { resourceType: 'Organization', name: 'X', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'R Y<A>' }] } }, /claim "requesting_organization" must be/],
  ['requesting_organization without name', { requesting_organization: { resourceType: 'Organization', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RYA' }] } }, /claim "requesting_organization" must be/],
  ['requesting_organization wrong resourceType', { requesting_organization: { resourceType: 'Device', name: 'X', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RYA' }] } }, /claim "requesting_organization" must be/],
  ['requesting_practitioner not a Practitioner', { requesting_practitioner: { resourceType: 'Patient', id: '10019' } }, /claim "requesting_practitioner" must be a Practitioner/],
  ['requesting_practitioner a string', { requesting_practitioner: 'Dr Who' }, /claim "requesting_practitioner" must be a Practitioner/],
  ['requesting_practitioner id ≠ sub', { requesting_practitioner: { resourceType: 'Practitioner', id: '99999' } }, /claim "requesting_practitioner" id must equal "sub"/],
];

const ACCEPTED_CASES: [string, Record<string, unknown>][] = [
  ['all claims', {}],
  ['no requesting_practitioner (optional)', { requesting_practitioner: undefined }],
  ['practitioner without the SDS identifiers', { requesting_practitioner: { resourceType: 'Practitioner', id: '10019' } }],
  ['iat in the future within the skew', { iat: IAT + 59, exp: IAT + 359 }],
  ['expired within the skew', { iat: IAT - 330, exp: IAT - 30 }],
  ['exp − iat exactly 300', { exp: IAT + 300 }],
  ['exp − iat shorter than 300', { exp: IAT + 60 }],
];

describe('unsigned mode (the SSP today): structure', () => {
  const check = (authorization: string | undefined) => checkBookingJwt(authorization, policy);

  it.each([
    ['no Authorization header', undefined, /the Authorization header is missing/],
    ['empty Authorization header', '', /the Authorization header is missing/],
    ['Basic instead of Bearer', 'Basic dXNlcjpwYXNz', /must be "Bearer <JWT>"/],
    ['Bearer without a token', 'Bearer ', /must be "Bearer <JWT>"/],
    ['two parts', 'Bearer abc.def', /three base64url parts/],
    ['four parts', 'Bearer a.b.c.d', /three base64url parts/],
    ['non-base64url characters', 'Bearer a+b.c/d.', /three base64url parts/],
    ['a huge token', `Bearer ${'a'.repeat(20000)}.b.`, /the JWT is too long/],
    ['header not JSON', `Bearer ${b64('not json')}.${b64(claims())}.`, /the JWT header is not base64url-encoded JSON/],
    ['payload not JSON', `Bearer ${b64({ alg: 'none' })}.${b64('not json')}.`, /the JWT payload is not a base64url-encoded JSON object/],
    ['payload a JSON array', `Bearer ${b64({ alg: 'none' })}.${b64([1, 2])}.`, /the JWT payload is not/],
    ['alg RS256 in unsigned mode', bearer(unsigned(claims(), { alg: 'RS256', typ: 'JWT' })), /must be unsigned \(alg "none"\)/],
    ['no alg', bearer(unsigned(claims(), { typ: 'JWT' })), /must be unsigned/],
    ['a signature on an alg none token', bearer(`${unsigned(claims())}c2ln`), /an unsigned JWT must have an empty signature/],
  ])('refuses %s', (_name, authorization, reason) => {
    const result = check(authorization);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('accepts the harness form with a leading space and trailing whitespace', () => {
    expect(check(` Bearer ${unsigned(claims())} `).ok).toBe(true);
  });

  it('takes the scheme name in any case (RFC 6750: "bearer", "BEARER")', () => {
    for (const scheme of ['bearer', 'BEARER', 'bEaReR']) expect(check(`${scheme} ${unsigned(claims())}`).ok, scheme).toBe(true);
    expect(peekProvenance(`bearer ${unsigned(claims())}`)).toBeDefined();
  });
});

describe('claim checks (unsigned mode)', () => {
  it.each(CLAIM_CASES)('refuses %s', (_name, overrides, reason) => {
    const token = unsigned(claims(overrides));
    const result = checkBookingJwt(bearer(token), policy);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toMatch(reason);
      // Names the check; never echoes the token or the values sent.
      expect(result.reason).not.toContain(token.split('.')[1]);
      expect(result.reason).not.toContain('99999');
      expect(result.reason).not.toContain('secondaryuses');
    }
  });

  it.each(ACCEPTED_CASES)('accepts %s', (_name, overrides) => {
    const result = checkBookingJwt(bearer(unsigned(claims(overrides))), policy);
    expect(result).toMatchObject({ ok: true });
  });

  it('returns the provenance identifiers, and no names', () => {
    const result = checkBookingJwt(bearer(unsigned(claims())), policy);
    expect(result).toEqual({
      ok: true,
      claims: {
        iss: 'https://consumer.example.nhs.uk/',
        sub: '10019',
        requestedScope: WRITE,
        organizationOds: 'RYA',
        deviceId: 'dev-1',
        practitionerId: '10019',
        practitionerSdsUserId: '111222333444',
        practitionerSdsRoleProfileId: '444555666777',
      },
    });
    expect(JSON.stringify(result)).not.toContain('Tester');
  });

  it('accepts any one of the interaction\u2019s scopes, and names them all when refusing another', () => {
    const reads = { ...policy, scopes: ['organization/slot.read', 'organization/*.read'] };
    for (const scope of reads.scopes) expect(checkBookingJwt(bearer(unsigned(claims({ requested_scope: scope }))), reads)).toMatchObject({ ok: true, claims: { requestedScope: scope } });
    expect(checkBookingJwt(bearer(unsigned(claims())), reads)).toEqual({ ok: false, reason: 'claim "requested_scope" must be "organization/slot.read" or "organization/*.read" for this interaction' });
    // Exact strings: no wildcard matching of our own (organization/*.read is a value in the list, not a pattern).
    expect(checkBookingJwt(bearer(unsigned(claims({ requested_scope: 'organization/*.write' }))), reads).ok).toBe(false);
    expect(checkBookingJwt(bearer(unsigned(claims({ requested_scope: 'organization/slot.read ' }))), reads).ok).toBe(false);
  });

  it('checks iss against JWT_ISSUERS when configured', () => {
    const token = bearer(unsigned(claims()));
    expect(checkBookingJwt(token, { ...policy, issuers: ['https://consumer.example.nhs.uk/'] }).ok).toBe(true);
    expect(checkBookingJwt(token, { ...policy, issuers: ['https://other.example.nhs.uk/'] })).toEqual({ ok: false, reason: 'claim "iss" is not an accepted issuer' });
  });

  it('peekProvenance reads identifiers from a token that failed its checks, and nothing from garbage', () => {
    expect(peekProvenance(bearer(unsigned(claims({ requested_scope: 'organization/slot.read', aud: 'x' }))))).toMatchObject({ organizationOds: 'RYA', deviceId: 'dev-1', practitionerId: '10019' });
    expect(peekProvenance('Bearer nonsense')).toBeUndefined();
    expect(peekProvenance(undefined)).toBeUndefined();
  });
});

describe('signed mode (JWT_PUBLIC_KEY / JWT_JWKS_URL)', () => {
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  let ec: Awaited<ReturnType<typeof generateKeyPair>>;
  let other: Awaited<ReturnType<typeof generateKeyPair>>;
  let rsaVerifier: JwtVerifier;
  let jwksServer: Server;
  let jwksUrl: string;

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    other = await generateKeyPair('RS256', { extractable: true });
    rsaVerifier = createJwtVerifier({ JWT_PUBLIC_KEY: await exportSPKI(rsa.publicKey), JWT_ALGORITHMS: 'RS256,ES256' }).verify;
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    jwksServer = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys })));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => jwksServer?.close(() => resolve())));

  const sign = (payload: Record<string, unknown>, key = rsa.privateKey, alg = 'RS256', kid?: string) =>
    new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT', ...(kid ? { kid } : {}) }).sign(key);

  it('accepts a token signed with the configured key', async () => {
    expect(await rsaVerifier(bearer(await sign(claims())), policy)).toMatchObject({ ok: true, claims: { organizationOds: 'RYA' } });
  });

  it.each(ACCEPTED_CASES)('accepts %s', async (_name, overrides) => {
    expect((await rsaVerifier(bearer(await sign(claims(overrides))), policy)).ok).toBe(true);
  });

  it('refuses alg "none" (an unsigned token), whatever its claims', async () => {
    expect(await rsaVerifier(bearer(unsigned(claims())), policy)).toEqual({ ok: false, reason: 'the JWT must be signed: alg "none" is not accepted' });
    expect((await rsaVerifier(bearer(unsigned(claims(), { alg: 'NONE' })), policy)).ok).toBe(false);
  });

  it('refuses an algorithm off the list (HS256 with the public key as secret; PS256 not configured)', async () => {
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('public-key-as-secret-0123456789abcdef'));
    expect(await rsaVerifier(bearer(hs), policy)).toMatchObject({ ok: false, reason: expect.stringMatching(/algorithm is not allowed/) });
    const ps = await generateKeyPair('PS256');
    expect(await rsaVerifier(bearer(await sign(claims(), ps.privateKey, 'PS256')), policy)).toMatchObject({ ok: false, reason: expect.stringMatching(/algorithm is not allowed/) });
  });

  it('refuses a token signed with another key, a tampered payload and a stripped signature', async () => {
    expect(await rsaVerifier(bearer(await sign(claims(), other.privateKey)), policy)).toEqual({ ok: false, reason: 'the JWT signature does not verify' });
    const [h, , s] = (await sign(claims())).split('.');
    expect(await rsaVerifier(bearer(`${h}.${b64(claims({ sub: 'admin' }))}.${s}`), policy)).toEqual({ ok: false, reason: 'the JWT signature does not verify' });
    expect(await rsaVerifier(bearer(`${h}.${b64(claims())}.`), policy)).toEqual({ ok: false, reason: 'the JWT signature is missing' });
  });

  it.each(CLAIM_CASES)('applies the same claim check as unsigned mode: %s', async (_name, overrides, reason) => {
    const signedResult = await rsaVerifier(bearer(await sign(claims(overrides))), policy);
    const unsignedResult = checkBookingJwt(bearer(unsigned(claims(overrides))), policy);
    expect(signedResult.ok).toBe(false);
    if (!signedResult.ok) expect(signedResult.reason).toMatch(reason);
    expect(signedResult).toEqual(unsignedResult);
  });

  it('verifies against a JWKS URL by kid, for RSA and EC keys, and refuses an unknown kid', async () => {
    const { verify, mode } = createJwtVerifier({ JWT_JWKS_URL: jwksUrl, JWT_ALGORITHMS: 'RS256,ES256' });
    expect(mode).toBe('signed');
    expect((await verify(bearer(await sign(claims(), rsa.privateKey, 'RS256', 'rsa-1')), policy)).ok).toBe(true);
    expect((await verify(bearer(await sign(claims(), ec.privateKey, 'ES256', 'ec-1')), policy)).ok).toBe(true);
    expect(await verify(bearer(await sign(claims(), other.privateKey, 'RS256', 'rogue')), policy)).toEqual({ ok: false, reason: 'no configured signing key matches the JWT (kid/alg)' });
    expect((await verify(bearer(unsigned(claims())), policy)).ok).toBe(false);
  });

  it('an EC public key file works with ES256', async () => {
    const verify = signedJwtVerifier({ key: ec.publicKey, algorithms: ['ES256'] });
    expect((await verify(bearer(await sign(claims(), ec.privateKey, 'ES256')), policy)).ok).toBe(true);
  });
});

describe('JWT settings', () => {
  it('is unsigned without a key or JWKS URL', () => {
    expect(createJwtVerifier({ JWT_ALGORITHMS: 'RS256' })).toEqual({ verify: unsignedJwtVerifier, mode: 'unsigned' });
  });

  it.each([
    [{ JWT_ALGORITHMS: 'RS256,HS256' }, /JWT_ALGORITHMS: only asymmetric/],
    [{ JWT_ALGORITHMS: 'none' }, /JWT_ALGORITHMS/],
    [{ JWT_ALGORITHMS: ' , ' }, /JWT_ALGORITHMS/],
    [{ JWT_ALGORITHMS: 'RS256', JWT_PUBLIC_KEY: 'not a key' }, /JWT_PUBLIC_KEY: not a PEM public key/],
    [{ JWT_ALGORITHMS: 'RS256', JWT_PUBLIC_KEY: 'x', JWT_JWKS_URL: 'https://a.example/jwks' }, /set only one/],
    [{ JWT_ALGORITHMS: 'RS256', JWT_JWKS_URL: 'http://idp.example/jwks' }, /JWT_JWKS_URL: must be https/],
  ])('refuses %j', (settings, message) => {
    expect(() => createJwtVerifier(settings)).toThrow(message);
  });

  it('parses the algorithm list', () => {
    expect(parseAlgorithms('RS256, ES256 ,PS512')).toEqual(['RS256', 'ES256', 'PS512']);
  });
});
