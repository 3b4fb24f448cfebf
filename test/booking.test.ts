import { randomUUID } from 'node:crypto';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bookingBody, consumerHeaders, makeJwt, SCOPES, type SlotForBooking } from './support/consumer.js';
import { freeSlots, pasCounts } from './support/pas.js';
import { Stack } from './support/stack.js';

/** POST /Appointment end to end: facade → queue → two worker processes → SQLite PAS. */

let stack: Stack;
let slots: SlotForBooking[];
let nextSlot = 0;
const takeSlot = () => slots[nextSlot++] as SlotForBooking;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 2 });
  const db = stack.openPas();
  slots = freeSlots(db);
  db.close();
});
afterAll(async () => {
  await stack?.stop();
});

async function post(body: unknown, headers: Record<string, string | undefined> = {}, raw = false) {
  const res = await fetch(`${stack.baseUrl}/Appointment`, {
    method: 'POST',
    headers: consumerHeaders(stack.baseUrl, 'book', headers),
    body: raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  return { res, json: text ? (JSON.parse(text) as Record<string, any>) : undefined };
}

function expectOperationOutcome(json: Record<string, any> | undefined, code?: string) {
  expect(json?.resourceType).toBe('OperationOutcome');
  expect(json?.meta?.profile).toEqual(['https://fhir.nhs.uk/STU3/StructureDefinition/Spine-OperationOutcome-1']);
  // One issue; an INVALID_RESOURCE with several findings adds one per element, all with the same code.
  expect(json?.issue.length).toBeGreaterThanOrEqual(1);
  if (json?.issue.length > 1) expect(json?.issue[0].details.coding[0].code).toBe('INVALID_RESOURCE');
  for (const issue of json?.issue ?? []) expect(issue.details.coding[0].code).toBe(json?.issue[0].details.coding[0].code);
  if (code) expect(json?.issue[0].details.coding[0].code).toBe(code);
}

describe('booking an appointment', () => {
  it('books through fhir-kit-client: 201 with Location, ETag, Last-Modified and the created Appointment', async () => {
    const slot = takeSlot();
    const requestId = randomUUID();
    const client = new Client({ baseUrl: stack.baseUrl, customHeaders: consumerHeaders(stack.baseUrl, 'book', { 'X-Request-ID': requestId }) });
    const created = (await client.create({ resourceType: 'Appointment', body: bookingBody(slot) as never })) as Record<string, any>;
    const { response } = Client.httpFor(created as never);

    expect(response?.status).toBe(201);
    const h = response!.headers;
    expect(h.get('location')).toBe(`${stack.baseUrl}/Appointment/${created.id}/_history/1`);
    expect(h.get('etag')).toBe('W/"1"');
    expect(new Date(h.get('last-modified') ?? '').toUTCString()).toBe(h.get('last-modified'));
    expect(h.get('content-type')).toBe('application/fhir+json;charset=utf-8');
    expect(h.get('cache-control')).toBe('no-store');
    expect(h.get('x-correlation-id')).toBe(requestId);
    expect(h.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.get('x-request-id')).not.toBe(requestId);

    expect(created.resourceType).toBe('Appointment');
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.meta.versionId).toBe('1');
    expect(Date.parse(created.meta.lastUpdated)).toBeGreaterThan(Date.now() - 60000);
    expect(created.meta.profile).toEqual(['https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-Appointment-1']);
    expect(created.status).toBe('booked');
    expect(created.created).toBe(created.meta.lastUpdated);
    expect(created.contained.map((r: any) => r.resourceType).sort()).toEqual(['DocumentReference', 'Patient', 'Slot']);
    expect(created.contained.find((r: any) => r.resourceType === 'Patient').identifier[0].value).toBe('9658218873');

    const db = stack.openPas();
    const row = db.prepare('SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_ID = ?').get(Number(slot.id)) as { SLOT_STATUS: string };
    db.close();
    expect(row.SLOT_STATUS).toBe('B');
  });

  it('answers 422 "Slot no longer available" for a booked slot and 409 for a reused X-Request-ID', async () => {
    const slot = takeSlot();
    const requestId = randomUUID();
    const first = await post(bookingBody(slot), { 'X-Request-ID': requestId });
    expect(first.res.status).toBe(201);

    const again = await post(bookingBody(slot));
    expect(again.res.status).toBe(422);
    expectOperationOutcome(again.json);
    expect(again.json?.issue[0]).toMatchObject({
      severity: 'error',
      code: 'processing',
      // The harness's issue-type coding first (its XPath reads the first coding), the Spine coding second.
      details: {
        coding: [
          { system: 'http://hl7.org/fhir/issue-type', code: 'processing', display: 'Processing Failure' },
          { system: 'https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1', code: 'INVALID_REQUEST_STATE' },
        ],
      },
      diagnostics: 'Slot no longer available',
    });

    const replay = await post(bookingBody(slot), { 'X-Request-ID': requestId });
    expect(replay.res.status).toBe(409);
    expectOperationOutcome(replay.json, 'DUPLICATE_REJECTED');
    expect(replay.json?.issue[0].code).toBe('duplicate');
    expect(replay.res.headers.get('content-location')).toBe(`${stack.baseUrl}/Appointment/${first.json?.id}/_history/1`);
    expect(replay.res.headers.get('x-correlation-id')).toBe(requestId);

    // The same UUID in capitals is the same request (RFC 4122), whatever the PAS's collation.
    const shouted = await post(bookingBody(slot), { 'X-Request-ID': requestId.toUpperCase() });
    expect(shouted.res.status).toBe(409);
    expect(shouted.res.headers.get('content-location')).toBe(`${stack.baseUrl}/Appointment/${first.json?.id}/_history/1`);
    expect(shouted.res.headers.get('x-correlation-id')).toBe(requestId.toUpperCase());
  });

  it('books a patient without an NHS number and adds the PAS hospital number as the identifier', async () => {
    const { res, json } = await post(bookingBody(takeSlot(), { nhsNumber: undefined }));
    expect(res.status).toBe(201);
    const patient = json?.contained.find((r: any) => r.resourceType === 'Patient');
    expect(patient.identifier).toEqual([{ system: 'https://fhir.example-trust.nhs.uk/Id/hospital-number', value: expect.stringMatching(/^T\d{9}$/) }]);
  });

  it('answers 422 REFERENCE_NOT_FOUND for a slot the PAS does not have', async () => {
    const slot = { ...takeSlot(), id: '99999999', identifier: randomUUID() };
    const { res, json } = await post(bookingBody(slot));
    expect(res.status).toBe(422);
    expectOperationOutcome(json, 'REFERENCE_NOT_FOUND');
  });

  it('answers 422 when the appointment does not lie within its slot', async () => {
    const slot = takeSlot();
    const body = bookingBody(slot);
    body.end = new Date(Date.parse(slot.end) + 60_000).toISOString();
    const { res, json } = await post(body);
    expect(res.status).toBe(422);
    expectOperationOutcome(json, 'INVALID_RESOURCE');
  });

  it.each([
    ['an id', (b: any) => (b.id = 'abc'), 'INVALID_RESOURCE'],
    ['status other than booked', (b: any) => (b.status = 'proposed'), 'INVALID_RESOURCE'],
    ['two contained resources', (b: any) => b.contained.pop(), 'INVALID_RESOURCE'],
    ['no end', (b: any) => delete b.end, 'INVALID_RESOURCE'],
    ['no description', (b: any) => delete b.description, 'INVALID_RESOURCE'],
    ['a slot reference to nothing', (b: any) => (b.slot = [{ reference: '#nope' }]), 'INVALID_RESOURCE'],
    ['no supportingInformation', (b: any) => delete b.supportingInformation, 'INVALID_RESOURCE'],
    ['no patient participant', (b: any) => (b.participant = [{ actor: { reference: 'Practitioner/1' }, status: 'accepted' }]), 'INVALID_RESOURCE'],
    ['a bad NHS number', (b: any) => (b.contained[1].identifier[0].value = '9658218872'), 'INVALID_NHS_NUMBER'],
    ['a second patient identifier', (b: any) => b.contained[1].identifier.push({ system: 'https://x/y', value: '1' }), 'INVALID_RESOURCE'],
    ['no patient birth date', (b: any) => delete b.contained[1].birthDate, 'INVALID_RESOURCE'],
    ['a bad gender', (b: any) => (b.contained[1].gender = 'f'), 'INVALID_RESOURCE'],
    ['a DocumentReference without identifier', (b: any) => delete b.contained[0].identifier, 'INVALID_RESOURCE'],
  ])('answers 422 for a body with %s, and books nothing', async (_name, mutate, code) => {
    const slot = takeSlot();
    const body = bookingBody(slot);
    mutate(body);
    const before = pasCountsNow();
    const { res, json } = await post(body);
    expect(res.status).toBe(422);
    expectOperationOutcome(json, code);
    expect(pasCountsNow()).toEqual(before);
  });

  it.each([
    ['unparseable JSON', '{"resourceType": "Appointment",', 'MESSAGE_NOT_WELL_FORMED'],
    ['a JSON array', '[]', 'BAD_REQUEST'],
    ['the wrong resourceType', JSON.stringify({ resourceType: 'Patient' }), 'BAD_REQUEST'],
  ])('answers 400 for %s', async (_name, raw, code) => {
    const { res, json } = await post(raw, {}, true);
    expect(res.status).toBe(400);
    expectOperationOutcome(json, code);
  });

  it.each([
    ['two rank-1 contact points', (p: any) => p.telecom.push({ system: 'phone', value: '07700 900000', rank: 1 })],
    ['no rank-1 contact point', (p: any) => (p.telecom[0].rank = 2)],
    ['a contact point without rank', (p: any) => delete p.telecom[0].rank],
    ['no contact point at all', (p: any) => delete p.telecom],
  ])('answers 400 for %s (Booking Standard contact rules)', async (_name, mutate) => {
    const body = bookingBody(takeSlot()) as any;
    mutate(body.contained[1]);
    const { res, json } = await post(body);
    expect(res.status).toBe(400);
    expectOperationOutcome(json, 'BAD_REQUEST');
  });

  it('accepts rank 1 held only by a third-party contact', async () => {
    const body = bookingBody(takeSlot()) as any;
    body.contained[1].telecom[0].rank = 2;
    body.contained[1].contact = [{ relationship: [{ coding: [{ system: 'http://hl7.org/fhir/v2/0131', code: 'N' }] }], name: { use: 'usual', family: 'Bloggs', given: ['Joe'] }, telecom: [{ system: 'phone', value: '07700 900001', rank: 1 }] }];
    const { res } = await post(body);
    expect(res.status).toBe(201);
  });

  it.each(['application/json', 'application/xml', 'text/plain'])('answers 415 for Content-Type %s', async (contentType) => {
    const { res, json } = await post(bookingBody(takeSlot()), { 'Content-Type': contentType });
    expect(res.status).toBe(415);
    expectOperationOutcome(json, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('accepts the legacy application/json+fhir media type', async () => {
    const { res } = await post(bookingBody(takeSlot()), { 'Content-Type': 'application/json+fhir' });
    expect(res.status).toBe(201);
  });

  it.each([
    ['no Authorization header', undefined],
    ['a token that is not a JWT', 'Bearer not-a-jwt'],
    ['an expired token', () => `Bearer ${makeJwt(stack.baseUrl, SCOPES.book, { iat: Math.floor(Date.now() / 1000) - 900, exp: Math.floor(Date.now() / 1000) - 600 })}`],
    ['the slot-search scope', () => `Bearer ${makeJwt(stack.baseUrl, SCOPES.searchSlot)}`],
    ['another audience', () => `Bearer ${makeJwt('https://elsewhere.example/STU3/1', SCOPES.book)}`],
  ])('answers 403 for %s, and books nothing', async (_name, auth) => {
    const before = pasCountsNow();
    const { res, json } = await post(bookingBody(takeSlot()), { Authorization: typeof auth === 'function' ? auth() : auth });
    expect(res.status).toBe(403);
    expectOperationOutcome(json, 'ACCESS DENIED');
    expect(json?.issue[0].code).toBe('forbidden');
    expect(pasCountsNow()).toEqual(before);
  });

  it('answers 400 MISSING_OR_INVALID_HEADER without an X-Request-ID', async () => {
    const { res, json } = await post(bookingBody(takeSlot()), { 'X-Request-ID': undefined });
    expect(res.status).toBe(400);
    expectOperationOutcome(json, 'MISSING_OR_INVALID_HEADER');
    expect(res.headers.get('x-correlation-id')).toBeNull();
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('never double-books: twenty concurrent POSTs for one slot give one 201 and nineteen 422', async () => {
    const slot = takeSlot();
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(bookingBody(slot))));
    const statuses = answers.map((a) => a.res.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 422)).toHaveLength(19);

    const db = stack.openPas();
    const rows = db.prepare(`SELECT COUNT(*) AS n FROM APPOINTMENT WHERE SLOT_ID = ? AND APPT_STATUS = 'B'`).get(Number(slot.id)) as { n: number };
    expect(rows.n).toBe(1);
    expect(pasCounts(db).doubleBookedSlots).toBe(0);
    db.close();
  });
});

function pasCountsNow() {
  const db = stack.openPas();
  try {
    return pasCounts(db);
  } finally {
    db.close();
  }
}
