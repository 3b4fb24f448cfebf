import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AuditRecord } from '../apps/facade/src/audit/log.js';
import { queryAudit } from '../apps/facade/src/audit/query.js';
import { bookingBody, consumerHeaders, INTERACTION_IDS, makeJwt, SCOPES, type SlotForBooking } from './support/consumer.js';
import { freeSlots, pasCounts } from './support/pas.js';
import { REPO_ROOT, Stack } from './support/stack.js';
import { stopProcess } from './support/redis.js';

/**
 * Security end to end (issue "Security" items 2–6): SSP headers, JWT (unsigned and signed),
 * the audit trail, hostile input, listener separation and what the logs must never contain.
 * The stack logs at trace level so that every log line the product can write is exercised.
 */

const PATIENT = { nhsNumber: '9658218873', family: 'Featherstonehaugh', birthDate: '1970-01-01' };
/** A patient looked up by an Appointment search that finds nothing: in the audit trail, never in the logs. */
const SEARCHED_NHS_NUMBER = '9434765870';

let stack: Stack;
let slots: SlotForBooking[];
let nextSlot = 0;
const takeSlot = () => slots[nextSlot++] as SlotForBooking;
/** A slot the PAS does not have (the worker answers 422 REFERENCE_NOT_FOUND). */
const unknownSlot = () => ({ ...takeSlot(), id: '987654321', identifier: randomUUID() });
/** Every bearer token sent in this file, to grep the logs and the audit trail for. */
const tokensSent = new Set<string>();

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: inject('redisUrl'), env: { LOG_LEVEL: 'trace' } });
  const db = stack.openPas();
  slots = freeSlots(db);
  db.close();
});
afterAll(async () => {
  await stack?.stop();
});

type Json = Record<string, any>;

async function call(method: string, path: string, interaction: keyof typeof INTERACTION_IDS, overrides: Record<string, string | undefined> = {}, body?: string, baseUrl = stack.baseUrl) {
  const headers = consumerHeaders(baseUrl, interaction, overrides);
  if (headers.Authorization) tokensSent.add(headers.Authorization.replace(/^Bearer /, ''));
  const res = await fetch(`${baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let json: Json | undefined;
  try {
    json = text ? (JSON.parse(text) as Json) : undefined;
  } catch {
    json = undefined;
  }
  return { res, json, text, headers };
}

function expectOutcome(answer: { res: Response; json?: Json }, status: number, code: string, diagnostics?: RegExp) {
  expect(answer.res.status).toBe(status);
  expect(answer.json?.resourceType).toBe('OperationOutcome');
  expect(answer.json?.issue?.[0]?.details?.coding?.[0]?.code).toBe(code);
  if (diagnostics) expect(answer.json?.issue?.[0]?.diagnostics).toMatch(diagnostics);
}

const book = (slot: SlotForBooking, overrides: Record<string, string | undefined> = {}, patient: { nhsNumber?: string; family?: string } = PATIENT) =>
  call('POST', '/Appointment', 'book', overrides, JSON.stringify(bookingBody(slot, patient)));

describe('SSP headers → 400 MISSING_OR_INVALID_HEADER (spec §3.1, §6)', () => {
  const uuid = randomUUID();
  it.each([
    ['Ssp-TraceID missing', 'metadata', { 'Ssp-TraceID': undefined }, /Ssp-TraceID/],
    ['Ssp-TraceID not a UUID', 'metadata', { 'Ssp-TraceID': 'trace-123' }, /Ssp-TraceID must be a UUID/],
    ['Ssp-TraceID a UUID with junk', 'metadata', { 'Ssp-TraceID': `${uuid}x` }, /Ssp-TraceID/],
    ['Ssp-From missing', 'metadata', { 'Ssp-From': undefined }, /Ssp-From/],
    ['Ssp-From 11 digits', 'metadata', { 'Ssp-From': '20000000011' }, /Ssp-From must be the consumer/],
    ['Ssp-From 13 digits', 'metadata', { 'Ssp-From': '2000000001155' }, /Ssp-From/],
    ['Ssp-From not digits', 'metadata', { 'Ssp-From': '20000000011X' }, /Ssp-From/],
    ['Ssp-To missing', 'metadata', { 'Ssp-To': undefined }, /Ssp-To must be this provider's ASID 200000000359/],
    ['Ssp-To another ASID', 'metadata', { 'Ssp-To': '200000000360' }, /Ssp-To must be this provider's ASID/],
    ['Ssp-InteractionID missing', 'metadata', { 'Ssp-InteractionID': undefined }, /Ssp-InteractionID must be urn:nhs:names:services:careconnect:fhir:rest:read:metadata/],
    ['Ssp-InteractionID of another interaction (read) on /metadata', 'metadata', { 'Ssp-InteractionID': INTERACTION_IDS.read }, /Ssp-InteractionID must be .*read:metadata/],
    ['Ssp-InteractionID of the SDS service read:slot on /Slot', 'searchSlot', { 'Ssp-InteractionID': 'urn:nhs:names:services:careconnect:fhir:rest:read:slot' }, /search:slot/],
  ] as const)('%s', async (_name, interaction, overrides, diagnostics) => {
    const path = interaction === 'metadata' ? '/metadata' : '/Slot?schedule.actor:healthcareservice=999999999&status=free';
    expectOutcome(await call('GET', path, interaction, overrides), 400, 'MISSING_OR_INVALID_HEADER', diagnostics);
  });

  it('wrong Ssp-InteractionID for POST (the update URN) and for PUT (the create URN)', async () => {
    const slot = takeSlot();
    expectOutcome(await book(slot, { 'Ssp-InteractionID': INTERACTION_IDS.cancel }), 400, 'MISSING_OR_INVALID_HEADER', /create:appointment/);
    const put = await call('PUT', `/Appointment/${randomUUID()}`, 'cancel', { 'Ssp-InteractionID': INTERACTION_IDS.book, 'If-Match': 'W/"1"' }, '{}');
    expectOutcome(put, 400, 'MISSING_OR_INVALID_HEADER', /update:appointment/);
  });

  it('X-Request-ID missing on POST and on PUT', async () => {
    const before = pasCounts(stack.openPas());
    expectOutcome(await book(takeSlot(), { 'X-Request-ID': undefined }), 400, 'MISSING_OR_INVALID_HEADER', /X-Request-ID is required/);
    const put = await call('PUT', `/Appointment/${randomUUID()}`, 'cancel', { 'X-Request-ID': undefined, 'If-Match': 'W/"1"' }, '{}');
    expectOutcome(put, 400, 'MISSING_OR_INVALID_HEADER', /X-Request-ID is required/);
    expect(pasCounts(stack.openPas())).toEqual(before);
  });
});

describe('JWT → 403 ACCESS DENIED (spec §5, §18), unsigned mode', () => {
  const metadata = (authorization: string | undefined) => call('GET', '/metadata', 'metadata', { Authorization: authorization });

  it.each([
    ['no Authorization header', () => undefined, /the Authorization header is missing/],
    ['a bogus aud', () => `Bearer ${makeJwt('https://bogus.example.nhs.uk/STU3/1', SCOPES.metadata)}`, /claim "aud" must be this provider's service root/],
    ['the book/cancel scope on /metadata', () => `Bearer ${makeJwt(stack.baseUrl, SCOPES.book)}`, /claim "requested_scope" must be "organization\/slot.read"/],
    ['an expired token', () => `Bearer ${makeJwt(stack.baseUrl, SCOPES.metadata, { iat: Math.floor(Date.now() / 1000) - 900, exp: Math.floor(Date.now() / 1000) - 600 })}`, /expired/],
    ['iat in the future', () => `Bearer ${makeJwt(stack.baseUrl, SCOPES.metadata, { iat: Math.floor(Date.now() / 1000) + 600, exp: Math.floor(Date.now() / 1000) + 900 })}`, /"iat" is in the future/],
    ['reason_for_request other than directcare', () => `Bearer ${makeJwt(stack.baseUrl, SCOPES.metadata, { reason_for_request: 'secondaryuses' })}`, /reason_for_request/],
    ['no requesting_organization', () => `Bearer ${makeJwt(stack.baseUrl, SCOPES.metadata, { requesting_organization: undefined })}`, /requesting_organization/],
    ['requesting_practitioner.id ≠ sub', () => `Bearer ${makeJwt(stack.baseUrl, SCOPES.metadata, { requesting_practitioner: { resourceType: 'Practitioner', id: 'someone-else' } })}`, /id must equal "sub"/],
    ['a signed-looking token (alg RS256) in unsigned mode', () => `Bearer ${makeJwt(stack.baseUrl, SCOPES.metadata).replace(/^[^.]+/, Buffer.from('{"alg":"RS256"}').toString('base64url'))}sig`, /unsigned/],
  ])('refuses %s', async (_name, authorization, diagnostics) => {
    const token = authorization();
    const answer = await metadata(token);
    expectOutcome(answer, 403, 'ACCESS DENIED', diagnostics);
    // The answer names the check and never echoes the token.
    if (token) expect(answer.text).not.toContain(token.replace('Bearer ', '').split('.')[1]);
  });

  it('accepts a token without requesting_practitioner', async () => {
    expect((await metadata(`Bearer ${makeJwt(stack.baseUrl, SCOPES.metadata, { requesting_practitioner: undefined })}`)).res.status).toBe(200);
  });

  it('the JWT is checked before the SSP headers (spec §18 order)', async () => {
    expectOutcome(await call('GET', '/metadata', 'metadata', { Authorization: undefined, 'Ssp-To': 'nope' }), 403, 'ACCESS DENIED');
  });
});

describe('hostile input', () => {
  it('413 OperationOutcome for a body over MAX_BODY_BYTES (1 MiB) with Content-Length', async () => {
    const body = JSON.stringify({ ...bookingBody(takeSlot(), PATIENT), description: 'x'.repeat(1024 * 1024 + 10) });
    const answer = await call('POST', '/Appointment', 'book', {}, body);
    expectOutcome(answer, 413, 'BAD_REQUEST', /exceeds 1048576 bytes/);
    // The unread rest of the body is not drained: the client must not reuse the connection.
    expect(answer.res.headers.get('connection')).toBe('close');
  });

  it('a refusal that leaves a large body unread says Connection: close; a request whose body was read keeps the connection', async () => {
    const big = JSON.stringify({ ...bookingBody(takeSlot(), PATIENT), description: 'x'.repeat(900 * 1024) });
    const refused = await call('POST', '/Appointment', 'book', { Authorization: undefined }, big);
    expectOutcome(refused, 403, 'ACCESS DENIED');
    expect(refused.res.headers.get('connection')).toBe('close');
    const read = await book(unknownSlot());
    expect(read.res.status).toBe(422);
    expect(read.res.headers.get('connection')).not.toBe('close');
  });

  it('413 OperationOutcome for a chunked upload without Content-Length', async () => {
    const headers = consumerHeaders(stack.baseUrl, 'book');
    const url = new URL(`${stack.baseUrl}/Appointment`);
    const answer = await new Promise<{ status?: number; body: string; error?: Error }>((resolve) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...headers, 'Transfer-Encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      req.on('error', (error) => resolve({ body: '', error }));
      const chunk = `"${'y'.repeat(64 * 1024 - 2)}"`;
      req.write('{"resourceType":"Appointment","description":[');
      let sent = 0;
      const pump = () => {
        // 2 MiB in 64 KiB chunks, stopping early once the answer has come.
        while (sent < 32 && !req.destroyed) {
          sent++;
          if (!req.write(`${chunk},`)) return void req.once('drain', pump);
        }
        req.end(`""]}`);
      };
      pump();
    });
    expect(answer.error).toBeUndefined();
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).resourceType).toBe('OperationOutcome');
  });

  it('an endless chunked upload is cut off: the facade stops reading a few MiB past the limit and closes the connection', async () => {
    const headers = consumerHeaders(stack.baseUrl, 'book');
    const url = new URL(`${stack.baseUrl}/Appointment`);
    const total = 64 * 1024 * 1024;
    const result = await new Promise<{ sent: number; answer: string }>((resolve) => {
      const socket = connect(Number(url.port), url.hostname);
      let sent = 0;
      let answer = '';
      const chunk = Buffer.alloc(64 * 1024, 'y');
      const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      const pump = () => {
        while (sent < total && !socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(frame)) return void socket.once('drain', pump);
        }
      };
      socket.on('data', (d) => (answer += d.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => resolve({ sent, answer }));
      const head = Object.entries({ ...headers, 'Content-Type': 'application/fhir+json', 'Transfer-Encoding': 'chunked' }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.write(`POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n${head}\r\n`);
      pump();
    });
    // Closed long before the 64 MiB were sent (1 MiB limit + at most 8 MiB read and dropped, plus what was in flight).
    expect(result.sent).toBeLessThan(total / 2);
    if (result.answer) expect(result.answer).toMatch(/^HTTP\/1\.1 413 [\s\S]*Connection: close/i);
    const after = await fetch(`${stack.baseUrl}/metadata`, { headers: consumerHeaders(stack.baseUrl, 'metadata') });
    expect(after.status).toBe(200);
  });

  /** A request written by hand on a raw socket; resolves with all the facade sent before closing. */
  const rawHttp = (head: string) =>
    new Promise<string>((resolve, reject) => {
      const url = new URL(stack.baseUrl);
      const socket = connect(Number(url.port), url.hostname);
      let data = '';
      socket.setTimeout(5000, () => reject(new Error('the facade did not answer within 5 s')));
      socket.on('data', (d) => (data += d));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
      socket.write(head);
    });
  const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

  it('431 OperationOutcome (not a hang) for request headers over 16 KiB; 15 KiB of headers are fine', async () => {
    const url = new URL(stack.baseUrl);
    const raw = (extra: string) => rawHttp(`GET ${url.pathname}/metadata HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\nX-Filler: ${extra}\r\n\r\n`);
    const big = await raw('a'.repeat(17 * 1024));
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    const oo = bodyOf(big);
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(oo.issue[0].diagnostics).toMatch(/exceed 16384 bytes/);
    // Audited too, under the X-Request-ID it was answered with.
    const id = /X-Request-ID: ([0-9a-f-]{36})/.exec(big)?.[1] as string;
    const audited = [];
    for await (const r of queryAudit(stack.auditDir, { requestId: id })) audited.push(r);
    expect(audited).toEqual([expect.objectContaining({ event: 'client-error', status: 431, outcome: 'HPE_HEADER_OVERFLOW' })]);
    expect(await raw('a'.repeat(15 * 1024))).toMatch(/^HTTP\/1\.1 403 /); // no JWT: answered normally
  });

  it('the hand-written 431 and 400 answers carry the same hardening headers as every other answer', async () => {
    const url = new URL(stack.baseUrl);
    const normal = (await call('GET', '/metadata', 'metadata')).res.headers;
    const expected = ['x-content-type-options', 'x-frame-options', 'referrer-policy', 'cross-origin-resource-policy', 'x-permitted-cross-domain-policies'];
    for (const name of expected) expect(normal.get(name), name).toBeTruthy();
    for (const head of [
      `GET ${url.pathname}/metadata HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\nX-Filler: ${'a'.repeat(17 * 1024)}\r\n\r\n`, // 431 by the listener
      'NONSENSE\r\n\r\n', // 400 by the listener
      `GET ${url.pathname}\\metadata HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`, // 400 by the adapter's error handler
    ]) {
      const answer = await rawHttp(head);
      const headers = answer.slice(0, answer.indexOf('\r\n\r\n')).toLowerCase();
      for (const name of expected) expect(headers, `${answer.slice(0, 12)}: ${name}`).toContain(`${name}: ${normal.get(name)?.toLowerCase()}`);
    }
  });

  it('an OperationOutcome for HTTP that Node or the adapter cannot read (bad request line, backslash in the path) and for a request without Host', async () => {
    const url = new URL(stack.baseUrl);
    for (const [head, status] of [
      ['NONSENSE\r\n\r\n', 400],
      [`GET ${url.pathname}\\metadata HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`, 400],
      // No Host: the adapter assumes the listen address, and the request is judged as any other (no JWT → 403).
      [`GET ${url.pathname}/metadata HTTP/1.1\r\nConnection: close\r\n\r\n`, 403],
    ] as const) {
      const answer = await rawHttp(head);
      expect(answer.slice(0, 12)).toBe(`HTTP/1.1 ${status}`);
      expect(bodyOf(answer).resourceType).toBe('OperationOutcome');
    }
  });

  it('a client that closes the connection mid-body is logged at info, not as an unhandled error', async () => {
    const url = new URL(stack.baseUrl);
    const correlationId = randomUUID();
    const headers = consumerHeaders(stack.baseUrl, 'book', { 'X-Request-ID': correlationId });
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST ${url.pathname}/Appointment HTTP/1.1\r\nHost: ${url.host}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\nContent-Length: 5000\r\n\r\n{"resourceType":`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.destroy();
    const lines = () => stack.facades[0]!.output.join('').split('\n').filter((l) => l.includes(correlationId)).map((l) => JSON.parse(l) as Json);
    for (let i = 0; i < 100 && !lines().some((l) => l.msg === 'request'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines().find((l) => l.msg === 'client closed the connection mid-request')).toMatchObject({ level: 30 });
    expect(lines().find((l) => l.msg === 'request')).toMatchObject({ level: 30, status: 400 });
    expect(lines().filter((l) => l.level >= 50)).toEqual([]);
  });

  it('400 for JSON nested deeper than 64 levels', async () => {
    const body = `{"resourceType":"Appointment","extension":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    expectOutcome(await call('POST', '/Appointment', 'book', {}, body), 400, 'MESSAGE_NOT_WELL_FORMED', /deeper than 64/);
  });

  it('"__proto__" / "constructor.prototype" keys reaching the worker pollute nothing in the facade or the worker', async () => {
    const canary = { location: ['POLLUTED'], spineCode: 'POLLUTED', polluted: 'POLLUTED' };
    const slot = takeSlot();
    const valid = bookingBody(slot, PATIENT) as Json;
    // A valid booking with extra keys the checks ignore: the facade hands it to the worker.
    const text = JSON.stringify(valid)
      .replace('{"resourceType":"Appointment"', `{"__proto__":${JSON.stringify(canary)},"constructor":{"prototype":${JSON.stringify(canary)}},"resourceType":"Appointment"`)
      .replace('{"resourceType":"Patient"', `{"__proto__":${JSON.stringify(canary)},"resourceType":"Patient"`);
    const first = await call('POST', '/Appointment', 'book', {}, text);
    expect([201, 422]).toContain(first.res.status);
    // Answers built by the facade (404) and by the worker (404 from the PAS, 422) afterwards.
    const answers = [
      await call('GET', '/Nothing', 'metadata'),
      await call('GET', `/Appointment/${randomUUID()}`, 'read'),
      await book(unknownSlot()),
    ];
    // The booking itself may echo the keys as data (JSON keeps "__proto__" as an own key); no answer after it may show them.
    for (const a of answers) expect(a.text).not.toContain('POLLUTED');
    expect(answers.map((a) => a.res.status)).toEqual([404, 404, 422]);
  });
});

describe('separation of the admin listener', () => {
  it.each(['/health/live', '/health/ready', '/metrics', '/admin', '/admin/queues', '/dashboard', '/STU3/1/health/live', '/STU3/1/metrics', '/STU3/1/admin/queues'])(
    '%s on the consumer port → 404 OperationOutcome',
    async (path) => {
      const origin = new URL(stack.baseUrl).origin;
      const res = await fetch(`${origin}${path}`, { headers: consumerHeaders(stack.baseUrl, 'metadata') });
      expect(res.status).toBe(404);
      const oo = (await res.json()) as Json;
      expect(oo.resourceType).toBe('OperationOutcome');
      expect(oo.issue[0].details.coding[0].code).toBe('NO_RECORD_FOUND');
    },
  );

  it('plain HTTP (FACADE_TLS=off, test stacks only) sends no HSTS, but the other hardening headers', async () => {
    const { res } = await call('GET', '/metadata', 'metadata');
    expect(res.headers.get('strict-transport-security')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('and the admin listener answers /health/live', async () => {
    expect((await fetch(`${stack.facades[0]!.adminUrl}/health/live`)).status).toBe(200);
  });
});

describe('audit trail (spec §17)', () => {
  const records = async (query: Parameters<typeof queryAudit>[1]) => {
    const out: AuditRecord[] = [];
    for await (const r of queryAudit(stack.auditDir, query)) out.push(r);
    return out;
  };
  let booked: { requestId: string; ourId: string; appointmentId: string; slotId: string; traceId: string };
  const startedAt = new Date();

  it('a booking leaves exactly one record with the provenance and the ids it touched', async () => {
    const slot = takeSlot();
    const requestId = randomUUID();
    const traceId = randomUUID();
    const answer = await book(slot, { 'X-Request-ID': requestId, 'Ssp-TraceID': traceId });
    expect(answer.res.status).toBe(201);
    booked = { requestId, traceId, ourId: answer.res.headers.get('x-request-id')!, appointmentId: answer.json!.id, slotId: slot.id };

    const found = await records({ requestId });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      event: 'request',
      interaction: 'book',
      method: 'POST',
      path: '/STU3/1/Appointment',
      status: 201,
      outcome: 'RESOURCE_CREATED',
      requestId: booked.ourId,
      consumerRequestId: requestId,
      correlationId: requestId,
      sspTraceId: traceId,
      sspFrom: '200000000115',
      sspTo: '200000000359',
      sspInteractionId: INTERACTION_IDS.book,
      jwtAccepted: true,
      iss: 'https://consumer.example.nhs.uk/',
      sub: '10019',
      requestedScope: SCOPES.book,
      organisationOds: 'RYA',
      deviceId: 'test-device',
      practitionerId: '10019',
      // Spec §5.3: a create records its author and originating organisation by name.
      practitionerName: 'Tess Tester',
      organisationName: 'Test 111 Service',
      appointmentIds: [booked.appointmentId],
      slotIds: [slot.id],
      clientAddress: expect.stringMatching(/127\.0\.0\.1/),
    });
    expect(Date.parse(found[0]!.time)).toBeGreaterThanOrEqual(startedAt.getTime() - 1000);
  });

  it('reads and cancels record the Appointment id from the URL and the Location header', async () => {
    const read = await call('GET', `/Appointment/${booked.appointmentId}`, 'read');
    expect(read.res.status).toBe(200);
    const [readRecord] = await records({ requestId: read.res.headers.get('x-request-id')! });
    expect(readRecord).toMatchObject({ interaction: 'read', status: 200, outcome: 'ok', appointmentIds: [booked.appointmentId], slotIds: [booked.slotId] });
    // Names only where the spec requires them: creates and updates.
    expect(readRecord).not.toHaveProperty('practitionerName');

    const cancelled = { ...read.json, status: 'cancelled' };
    const cancel = await call('PUT', `/Appointment/${booked.appointmentId}`, 'cancel', { 'If-Match': read.res.headers.get('etag')! }, JSON.stringify(cancelled));
    expect(cancel.res.status).toBe(200);
    const [cancelRecord] = await records({ requestId: cancel.headers['X-Request-ID'] });
    expect(cancelRecord).toMatchObject({ interaction: 'cancel', status: 200, outcome: 'RESOURCE_UPDATED', appointmentIds: [booked.appointmentId], practitionerName: 'Tess Tester', organisationName: 'Test 111 Service' });
  });

  it('each refusal leaves exactly one record with its status and code (403, 404, 405, 400, 413, 415, 422)', async () => {
    const someId = randomUUID();
    const cases: [() => ReturnType<typeof call>, number, string, Partial<AuditRecord>][] = [
      [() => call('GET', '/metadata', 'metadata', { Authorization: `Bearer ${makeJwt('https://bogus.example/STU3/1', SCOPES.metadata)}` }), 403, 'ACCESS DENIED', { interaction: 'metadata', jwtAccepted: false, organisationOds: 'RYA', deviceId: 'test-device' }],
      [() => call('GET', '/Patient/1', 'metadata'), 404, 'NO_RECORD_FOUND', { interaction: 'unknown', path: '/STU3/1/Patient/1' }],
      [() => call('DELETE', `/Appointment/${someId}`, 'cancel'), 405, 'NOT_IMPLEMENTED', { appointmentIds: [someId] }],
      [() => call('GET', '/metadata', 'metadata', { 'Ssp-To': '999999999999' }), 400, 'MISSING_OR_INVALID_HEADER', { sspTo: '999999999999' }],
      [() => call('POST', '/Appointment', 'book', {}, 'x'.repeat(1024 * 1024 + 1)), 413, 'BAD_REQUEST', {}],
      [() => call('POST', '/Appointment', 'book', { 'Content-Type': 'application/xml' }, '<x/>'), 415, 'UNSUPPORTED_MEDIA_TYPE', {}],
      [() => book(unknownSlot()), 422, 'REFERENCE_NOT_FOUND', { interaction: 'book' }],
    ];
    for (const [send, status, outcome, fields] of cases) {
      const answer = await send();
      expect(answer.res.status).toBe(status);
      const found = await records({ requestId: answer.res.headers.get('x-request-id')! });
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({ status, outcome, ...fields });
    }
  });

  it('an Appointment search records the NHS number searched for, even when it finds nothing', async () => {
    const search = await call('GET', `/Appointment?identifier=${encodeURIComponent(`https://fhir.nhs.uk/Id/nhs-number|${SEARCHED_NHS_NUMBER}`)}`, 'searchAppointment');
    expect(search.res.status).toBe(200);
    expect(search.json?.total).toBe(0);
    const found = await records({ requestId: search.res.headers.get('x-request-id')! });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ interaction: 'search-appointment', status: 200, outcome: 'ok', path: '/STU3/1/Appointment', searchedNhsNumber: SEARCHED_NHS_NUMBER, organisationOds: 'RYA', sub: '10019' });
    expect(found[0]).not.toHaveProperty('appointmentIds');
  });

  it('holds no patient demographics and no token', () => {
    const all = readdirSync(stack.auditDir).map((f) => readFileSync(join(stack.auditDir, f), 'utf8')).join('');
    expect(all.length).toBeGreaterThan(0);
    // The practitioner's name is there (creates and updates, spec §5.3): staff provenance, not patient data.
    for (const secret of [PATIENT.nhsNumber, PATIENT.family, PATIENT.birthDate, 'Jane', '1 High Street', '01234 567890']) expect(all).not.toContain(secret);
    for (const token of tokensSent) expect(all).not.toContain(token.split('.')[1]);
  });

  it('survives a facade restart and is queried by time range and request id through the CLI', async () => {
    const old = stack.facades[0]!;
    await stopProcess(old.child);
    stack.facades.splice(0, 1);
    const fresh = await stack.startFacade();
    await stack.waitReady(fresh);
    const after = await call('GET', '/metadata', 'metadata');
    expect(after.res.status).toBe(200);
    stack.facades.push(old); // keep its output for the log test below

    const cli = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'apps/facade/src/audit/cli.ts', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('exit', (code) => resolve({ code, out, err }));
      });
    const lines = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);

    const byId = await cli(['--request-id', booked.requestId], { AUDIT_DIR: stack.auditDir });
    expect(byId.code).toBe(0);
    expect(lines(byId.out)).toEqual([expect.objectContaining({ interaction: 'book', status: 201, appointmentIds: [booked.appointmentId] })]);

    const range = await cli(['--from', startedAt.toISOString(), '--to', new Date().toISOString(), '--dir', stack.auditDir]);
    expect(range.code).toBe(0);
    const inRange = lines(range.out);
    expect(inRange.some((r) => r.consumerRequestId === booked.requestId)).toBe(true); // before the restart
    expect(inRange.some((r) => r.requestId === after.res.headers.get('x-request-id'))).toBe(true); // after it
    expect(inRange.every((r) => r.time >= startedAt.toISOString())).toBe(true);
    expect(inRange.map((r) => r.time)).toEqual([...inRange.map((r) => r.time)].sort());

    const none = await cli(['--from', '2001-01-01T00:00:00Z', '--to', '2001-01-02T00:00:00Z', '--dir', stack.auditDir]);
    expect(none).toMatchObject({ code: 0, out: '' });
    const bad = await cli(['--from', 'yesterday', '--dir', stack.auditDir]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--from: not an ISO 8601 time/);
  });
});

describe('logs (facade and worker, at trace level)', () => {
  it('never contain a token or the patient demographics, after bookings, refusals and a cancel', async () => {
    // One more booking that fails in the worker with the patient in it, and a malformed body naming her.
    await book(unknownSlot());
    await call('POST', '/Appointment', 'book', {}, `{"resourceType":"Appointment","contained":[{"resourceType":"Patient","name":[{"family":"${PATIENT.family}"}],"birthDate":"${PATIENT.birthDate}"`);
    const output = [...stack.facades, ...stack.workers].map((p) => p.output.join('')).join('\n');
    expect(output.length).toBeGreaterThan(0);
    expect(output).toMatch(/"msg":"request"/); // the request log lines are there to be searched
    for (const secret of [PATIENT.nhsNumber, SEARCHED_NHS_NUMBER, PATIENT.family, PATIENT.birthDate, '1 High Street', '01234 567890']) {
      expect(output, `log output contains ${secret}`).not.toContain(secret);
    }
    expect(tokensSent.size).toBeGreaterThan(10);
    for (const token of tokensSent) {
      expect(output).not.toContain(token);
      expect(output).not.toContain(token.split('.')[1]);
    }
  });
});

describe('signed JWT mode (JWT_PUBLIC_KEY_FILE)', () => {
  let signedStack: Stack;
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'booking-jwt-'));
    keys = await generateKeyPair('RS256');
    const keyFile = join(dir, 'consumer-public.pem');
    writeFileSync(keyFile, await exportSPKI(keys.publicKey));
    signedStack = await Stack.start({ redisUrl: inject('redisUrl'), env: { JWT_PUBLIC_KEY_FILE: keyFile, JWT_ALGORITHMS: 'RS256' } });
  });
  afterAll(async () => {
    await signedStack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const signed = (scope: string, claims: Record<string, unknown> = {}, key = keys.privateKey) =>
    new SignJWT(decodeJwt(makeJwt(signedStack.baseUrl, scope, claims))).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign(key);

  it('accepts a signed token: metadata 200 and a booking 201', async () => {
    expect((await call('GET', '/metadata', 'metadata', { Authorization: `Bearer ${await signed(SCOPES.metadata)}` }, undefined, signedStack.baseUrl)).res.status).toBe(200);
    const db = signedStack.openPas();
    const [slot] = freeSlots(db, '999999999', 1);
    db.close();
    const answer = await call('POST', '/Appointment', 'book', { Authorization: `Bearer ${await signed(SCOPES.book)}` }, JSON.stringify(bookingBody(slot!)), signedStack.baseUrl);
    expect(answer.res.status).toBe(201);
  });

  it('refuses the unsigned SSP token (alg none), a token signed by another key and a signed token with a bad claim', async () => {
    const other = await generateKeyPair('RS256');
    const get = (authorization: string) => call('GET', '/metadata', 'metadata', { Authorization: authorization }, undefined, signedStack.baseUrl);
    expectOutcome(await get(`Bearer ${makeJwt(signedStack.baseUrl, SCOPES.metadata)}`), 403, 'ACCESS DENIED', /alg "none" is not accepted/);
    expectOutcome(await get(`Bearer ${await signed(SCOPES.metadata, {}, other.privateKey)}`), 403, 'ACCESS DENIED', /signature does not verify/);
    expectOutcome(await get(`Bearer ${await signed(SCOPES.book)}`), 403, 'ACCESS DENIED', /requested_scope/);
    expectOutcome(await get(`Bearer ${await signed(SCOPES.metadata, { aud: 'https://bogus.example/STU3/1' })}`), 403, 'ACCESS DENIED', /claim "aud"/);
  });
});
