import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ConsumerIdentity, sspHeaders } from '@booking/cli/consumer';
import { bookingBody, consumerHeaders, type InteractionName, makeJwt, SCOPES, type SlotForBooking } from './support/consumer.js';
import { freeSlots, pasCounts } from './support/pas.js';
import { PROVIDER_ASID, Stack } from './support/stack.js';

/** read, vread, cancel, the capability statement and wrong verbs, against real processes. */

let stack: Stack;
let slots: SlotForBooking[];
let next = 0;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 2 });
  const db = stack.openPas();
  slots = freeSlots(db);
  db.close();
});
afterAll(async () => {
  await stack?.stop();
});

type Json = Record<string, any>;

async function call(method: string, path: string, interaction: InteractionName, body?: unknown, headers: Record<string, string | undefined> = {}) {
  const res = await fetch(`${stack.baseUrl}${path}`, {
    method,
    headers: consumerHeaders(stack.baseUrl, interaction, headers),
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { res, json: (text ? JSON.parse(text) : undefined) as Json | undefined };
}

async function book(): Promise<{ appointment: Json; slot: SlotForBooking }> {
  const slot = slots[next++] as SlotForBooking;
  const { res, json } = await call('POST', '/Appointment', 'book', bookingBody(slot));
  expect(res.status).toBe(201);
  return { appointment: json as Json, slot };
}

const cancelBody = (appointment: Json) => ({ ...appointment, status: 'cancelled' });
const slotStatus = (slotId: string) => {
  const db = stack.openPas();
  const row = db.prepare('SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_ID = ?').get(Number(slotId)) as { SLOT_STATUS: string };
  db.close();
  return row.SLOT_STATUS;
};
const counts = () => {
  const db = stack.openPas();
  const c = pasCounts(db);
  db.close();
  return c;
};

describe('GET [base]/metadata', () => {
  it('returns the CapabilityStatement of what this server supports', async () => {
    const { res, json } = await call('GET', '/metadata', 'metadata');
    expect(res.status).toBe(200);
    expect(json?.resourceType).toBe('CapabilityStatement');
    expect(json?.fhirVersion).toBe('3.0.1');
    // The spec's template (§7): kind capability, which FHIR (cpb-15) allows only without implementation.
    expect(json?.kind).toBe('capability');
    expect(json?.implementation).toBeUndefined();
    expect(json?.acceptUnknown).toBe('both');
    expect(json?.format).toEqual(['application/fhir+json', 'application/fhir+xml']);
    expect(json?.publisher).toBeTruthy();
    expect(json?.software.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(new Set(json?.profile.map((p: Json) => p.reference)).size).toBe(10);
    const [appointment, slot] = json?.rest[0].resource as Json[];
    expect(appointment?.type).toBe('Appointment');
    expect(appointment?.interaction.map((i: Json) => i.code).sort()).toEqual(['create', 'read', 'search-type', 'update', 'vread']);
    expect(appointment?.searchParam.map((p: Json) => p.name)).toEqual(['identifier', '_id', 'version']);
    expect(slot?.interaction).toEqual([{ code: 'search-type' }]);
    expect(slot?.searchParam.map((p: Json) => p.name)).toEqual(['service', 'status', 'start']);
    expect(new Set(slot?.searchInclude).size).toBe(6);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('needs the slot-read scope', async () => {
    const { res } = await call('GET', '/metadata', 'metadata', undefined, { Authorization: `Bearer ${makeJwt(stack.baseUrl, SCOPES.book)}` });
    expect(res.status).toBe(403);
  });
});

describe('read and vread', () => {
  it('reads the current version and version 1 with ETag and Last-Modified', async () => {
    const { appointment } = await book();
    const read = await call('GET', `/Appointment/${appointment.id}`, 'read');
    expect(read.res.status).toBe(200);
    expect(read.json).toEqual(appointment);
    expect(read.res.headers.get('etag')).toBe('W/"1"');
    expect(read.res.headers.get('last-modified')).toBe(new Date(appointment.meta.lastUpdated).toUTCString());

    const vread = await call('GET', `/Appointment/${appointment.id}/_history/1`, 'read');
    expect(vread.res.status).toBe(200);
    expect(vread.json).toEqual(appointment);
  });

  it.each([
    ['an unknown id', () => `/Appointment/${randomUUID()}`],
    ['an unknown version', (id: string) => `/Appointment/${id}/_history/7`],
    ['a non-numeric version', (id: string) => `/Appointment/${id}/_history/abc`],
  ])('answers 404 NO_RECORD_FOUND for %s', async (_name, path) => {
    const { appointment } = await book();
    const { res, json } = await call('GET', path(appointment.id), 'read');
    expect(res.status).toBe(404);
    expect(json?.resourceType).toBe('OperationOutcome');
    expect(json?.issue[0].details.coding[0].code).toBe('NO_RECORD_FOUND');
  });

  it('needs the appointment-read scope', async () => {
    const { appointment } = await book();
    const { res } = await call('GET', `/Appointment/${appointment.id}`, 'read', undefined, { Authorization: `Bearer ${makeJwt(stack.baseUrl, SCOPES.searchSlot)}` });
    expect(res.status).toBe(403);
  });
});

describe('cancel (PUT)', () => {
  it('cancels with the ETag as If-Match: 200, version 2, slot free again, version 1 kept unchanged', async () => {
    const { appointment, slot } = await book();
    expect(slotStatus(slot.id)).toBe('B');
    const { res, json } = await call('PUT', `/Appointment/${appointment.id}`, 'cancel', cancelBody(appointment), { 'If-Match': 'W/"1"' });
    expect(res.status).toBe(200);
    expect(json?.status).toBe('cancelled');
    expect(json?.meta.versionId).toBe('2');
    expect(json?.created).toBe(appointment.created);
    expect(res.headers.get('etag')).toBe('W/"2"');
    expect(res.headers.get('location')).toBe(`${stack.baseUrl}/Appointment/${appointment.id}/_history/2`);
    expect(res.headers.get('last-modified')).toBe(new Date(json?.meta.lastUpdated).toUTCString());
    expect(slotStatus(slot.id)).toBe('F');

    const v1 = await call('GET', `/Appointment/${appointment.id}/_history/1`, 'read');
    expect(v1.json).toEqual(appointment);
    const current = await call('GET', `/Appointment/${appointment.id}`, 'read');
    expect(current.json).toEqual(json);

    const again = await call('PUT', `/Appointment/${appointment.id}`, 'cancel', { ...json, status: 'cancelled' }, { 'If-Match': 'W/"2"' });
    expect(again.res.status).toBe(422);
    expect(again.json?.issue[0].details.coding[0].code).toBe('INVALID_REQUEST_STATE');
  });

  it('keeps a cancellation reason and tolerates meta, text and element order differences', async () => {
    const { appointment } = await book();
    const reordered: Json = Object.fromEntries(Object.entries(cancelBody(appointment)).reverse());
    reordered.meta = { profile: appointment.meta.profile };
    reordered.text = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">cancelled</div>' };
    reordered.extension = [{ url: 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-AppointmentCancellationReason-1', valueString: 'Patient feels better' }];
    const { res, json } = await call('PUT', `/Appointment/${appointment.id}`, 'cancel', reordered, { 'If-Match': 'W/"1"' });
    expect(res.status).toBe(200);
    expect(json?.extension).toEqual(reordered.extension);
  });

  it('answers 412 without If-Match and 409 for a stale or malformed one, before looking at the content', async () => {
    const { appointment } = await book();
    const changed = { ...cancelBody(appointment), description: 'changed' };
    const before = counts();
    expect((await call('PUT', `/Appointment/${appointment.id}`, 'cancel', changed)).res.status).toBe(412);
    for (const ifMatch of ['W/"7"', '"1"', 'garbage']) {
      const { res, json } = await call('PUT', `/Appointment/${appointment.id}`, 'cancel', changed, { 'If-Match': ifMatch });
      expect(res.status).toBe(409);
      expect(json?.issue[0].code).toBe('conflict');
    }
    expect(counts()).toEqual(before);
  });

  it.each([
    ['the patient family name', (a: Json) => (a.contained.find((r: Json) => r.resourceType === 'Patient').name[0].family = 'Changed')],
    ['the start time', (a: Json) => (a.start = new Date(Date.parse(a.start) + 60000).toISOString())],
    ['the description', (a: Json) => (a.description = 'Something else')],
    ['the slot reference', (a: Json) => (a.slot = [{ reference: '#other' }])],
    ['a participant', (a: Json) => (a.participant[0].status = 'declined')],
    ['the contained Slot', (a: Json) => (a.contained.find((r: Json) => r.resourceType === 'Slot').end = a.start)],
    ['the status left booked', (a: Json) => (a.status = 'booked')],
  ])('answers 422 and changes nothing when the PUT changes %s', async (_name, mutate) => {
    const { appointment, slot } = await book();
    const body = structuredClone(cancelBody(appointment));
    mutate(body);
    const before = counts();
    const { res, json } = await call('PUT', `/Appointment/${appointment.id}`, 'cancel', body, { 'If-Match': 'W/"1"' });
    expect(res.status).toBe(422);
    expect(json?.resourceType).toBe('OperationOutcome');
    expect(counts()).toEqual(before);
    expect(slotStatus(slot.id)).toBe('B');
  });

  it('compares instants as points in time: cancels with start and end rewritten as +00:00 or +01:00 (.NET Firely writes +00:00)', async () => {
    const { appointment } = await book();
    expect(appointment.start).toMatch(/\.000Z$/);
    const rewrite = (instant: string, offset: '+00:00' | '+01:00') =>
      offset === '+00:00' ? instant.replace(/\.000Z$/, '+00:00') : `${new Date(Date.parse(instant) + 3_600_000).toISOString().slice(0, 19)}+01:00`;
    const body: Json = structuredClone(cancelBody(appointment));
    Object.assign(body, { start: rewrite(body.start, '+00:00'), end: rewrite(body.end, '+01:00') });
    const slot = body.contained.find((r: Json) => r.resourceType === 'Slot');
    Object.assign(slot, { start: rewrite(slot.start, '+01:00'), end: rewrite(slot.end, '+00:00') });
    const { res, json } = await call('PUT', `/Appointment/${appointment.id}`, 'cancel', body, { 'If-Match': 'W/"1"' });
    expect(res.status, JSON.stringify(json)).toBe(200);
    expect(json?.start).toBe(appointment.start);
  });

  describe('with the assurance harness\'s own XML bodies (its XSLT writes <status>cancelled</status>, a text node)', () => {
    const harnessBody = (file: string, slot: SlotForBooking, appointmentId = '') =>
      readFileSync(new URL(`fixtures/harness/${file}`, import.meta.url), 'utf8')
        .replace(/__APPT_(SLOT_ID|IDENTIFIER_SYSTEM|IDENTIFIER_VALUE|SCHEDULE|START_DATE|END_DATE)__/g, '')
        .replaceAll('__SLOT_ID__', slot.id)
        .replaceAll('__IDENTIFIER_SYSTEM__', 'https://tools.ietf.org/html/rfc4122')
        .replaceAll('__IDENTIFIER_VALUE__', slot.identifier)
        .replaceAll('__SCHEDULE__', slot.schedule.replace('Schedule/', ''))
        .replaceAll('__START_DATE__', slot.start)
        .replaceAll('__END_DATE__', slot.end)
        .replaceAll('__APPT_ID__', appointmentId);
    const xml = { 'Content-Type': 'application/fhir+xml', Accept: 'application/fhir+json' };
    const bookAsHarness = async () => {
      const slot = slots[next++] as SlotForBooking;
      const { res, json } = await call('POST', '/Appointment', 'book', harnessBody('book_appt-without-id.xml', slot), xml);
      expect(res.status).toBe(201);
      return { id: json?.id as string, etag: res.headers.get('etag') as string, slot };
    };

    it('answers 409 for a stale If-Match and 412 for none, then 200 with the ETag (VersionConflict, If-MatchHeaderMissing, HappyPath)', async () => {
      const { id, etag, slot } = await bookAsHarness();
      const body = harnessBody('cancel_appointment.xml', slot, id);
      expect(body).toContain('<status>cancelled</status>');
      const stale = await call('PUT', `/Appointment/${id}`, 'cancel', body, { ...xml, 'If-Match': 'W/"99"' });
      expect(stale.res.status, JSON.stringify(stale.json)).toBe(409);
      const missing = await call('PUT', `/Appointment/${id}`, 'cancel', body, xml);
      expect(missing.res.status, JSON.stringify(missing.json)).toBe(412);
      const cancelled = await call('PUT', `/Appointment/${id}`, 'cancel', body, { ...xml, 'If-Match': etag });
      expect(cancelled.res.status, JSON.stringify(cancelled.json)).toBe(200);
      expect(cancelled.json?.status).toBe('cancelled');
      expect(slotStatus(slot.id)).toBe('F');
    });

    it('answers 422 to the surname changed as text (DifferencesDetected), and changes nothing', async () => {
      const { id, etag, slot } = await bookAsHarness();
      const body = harnessBody('change_patient_surname.xml', slot, id);
      expect(body).toContain('<family>Chalmersxxxxx</family>');
      const before = counts();
      const { res, json } = await call('PUT', `/Appointment/${id}`, 'cancel', body, { ...xml, 'If-Match': etag });
      expect(res.status, JSON.stringify(json)).toBe(422);
      expect(json?.issue[0].diagnostics).toContain('Patient');
      expect(counts()).toEqual(before);
      expect(slotStatus(slot.id)).toBe('B');
    });
  });

  it('answers 404 for an unknown id (a PUT never creates)', async () => {
    const { appointment } = await book();
    const id = randomUUID();
    const { res } = await call('PUT', `/Appointment/${id}`, 'cancel', { ...cancelBody(appointment), id }, { 'If-Match': 'W/"1"' });
    expect(res.status).toBe(404);
  });

  it('lets exactly one of two racing cancels with the same If-Match win', async () => {
    const { appointment } = await book();
    const answers = await Promise.all([1, 2].map(() => call('PUT', `/Appointment/${appointment.id}`, 'cancel', cancelBody(appointment), { 'If-Match': 'W/"1"' })));
    expect(answers.map((a) => a.res.status).sort()).toEqual([200, 409]);
    const versions = await call('GET', `/Appointment/${appointment.id}/_history/3`, 'read');
    expect(versions.res.status).toBe(404);
  });

  it('answers a cancel retried with the same X-Request-ID with 409 naming the appointment', async () => {
    const { appointment } = await book();
    const requestId = randomUUID();
    const first = await call('PUT', `/Appointment/${appointment.id}`, 'cancel', cancelBody(appointment), { 'If-Match': 'W/"1"', 'X-Request-ID': requestId });
    expect(first.res.status).toBe(200);
    const retry = await call('PUT', `/Appointment/${appointment.id}`, 'cancel', cancelBody(appointment), { 'If-Match': 'W/"1"', 'X-Request-ID': requestId });
    expect(retry.res.status).toBe(409);
    expect(retry.json?.issue[0].code).toBe('duplicate');
    expect(retry.res.headers.get('content-location')).toBe(`${stack.baseUrl}/Appointment/${appointment.id}/_history/2`);
  });

  it('lets the freed slot be booked again', async () => {
    const { appointment, slot } = await book();
    expect((await call('PUT', `/Appointment/${appointment.id}`, 'cancel', cancelBody(appointment), { 'If-Match': 'W/"1"' })).res.status).toBe(200);
    const rebook = await call('POST', '/Appointment', 'book', bookingBody(slot));
    expect(rebook.res.status).toBe(201);
  });
});

describe('search (GET [base]/Appointment)', () => {
  it('finds the patient\'s appointments by NHS number and one by _id', async () => {
    const nhsNumber = '9434765919';
    const slotA = slots[next++] as SlotForBooking;
    const slotB = slots[next++] as SlotForBooking;
    const booked: Json[] = [];
    for (const slot of [slotA, slotB]) {
      const { res, json } = await call('POST', '/Appointment', 'book', bookingBody(slot, { nhsNumber }));
      expect(res.status).toBe(201);
      booked.push(json as Json);
    }
    const search = (query: string) => call('GET', `/Appointment?${query}`, 'read', undefined, { 'Ssp-InteractionID': 'urn:nhs:names:services:careconnect:fhir:rest:search:appointment' });
    const byNhs = await search(`identifier=${encodeURIComponent(`https://fhir.nhs.uk/Id/nhs-number|${nhsNumber}`)}`);
    expect(byNhs.res.status).toBe(200);
    expect(byNhs.json?.type).toBe('searchset');
    expect(byNhs.json?.total).toBe(2);
    expect(byNhs.json?.entry.map((e: Json) => e.resource.id).sort()).toEqual(booked.map((b) => b.id).sort());
    // bdl-8: a fullUrl is never version-specific.
    expect(byNhs.json?.entry[0].fullUrl).toMatch(new RegExp(`^${stack.baseUrl}/Appointment/[0-9a-f-]+$`));

    const byId = await search(`_id=${booked[0]?.id}`);
    expect(byId.json?.entry.map((e: Json) => [e.resource.id, e.resource.meta.versionId])).toEqual([[booked[0]?.id, '1']]);
    const nobody = await search('identifier=9999999999'.replace('9999999999', '9434765870'));
    expect(nobody.res.status).toBe(200);
    expect(nobody.json?.total).toBe(0);
    expect(nobody.json?.entry).toBeUndefined();
  });

  it('shows another organisation only limited content (§12): no demographics, description or documents; a read by id stays whole', async () => {
    const nhsNumber = '9434765919';
    const slot = slots[next++] as SlotForBooking;
    const { res, json: booked } = await call('POST', '/Appointment', 'book', bookingBody(slot, { nhsNumber, family: 'Featherstonehaugh' }));
    expect(res.status).toBe(201);
    // Another organisation, device and user, holding only the read scope.
    const other: ConsumerIdentity = { iss: 'https://other.example/', sub: 'u2', device: { system: 'https://other.example/dev', value: 'd2', model: 'Other' }, organization: { name: 'Some Other Org', ods: 'X99' } };
    const headers = { ...sspHeaders({ audience: stack.baseUrl, interaction: 'searchAppointment', toAsid: PROVIDER_ASID, fromAsid: '200000000999', who: other }) };
    const found = await fetch(`${stack.baseUrl}/Appointment?identifier=${encodeURIComponent(`https://fhir.nhs.uk/Id/nhs-number|${nhsNumber}`)}`, { headers });
    expect(found.status).toBe(200);
    const text = await found.text();
    const entry = (JSON.parse(text) as Json).entry.find((e: Json) => e.resource.id === booked?.id);
    expect(entry.resource).toEqual({
      resourceType: 'Appointment',
      id: booked?.id,
      meta: { versionId: '1', lastUpdated: booked?.meta.lastUpdated, profile: booked?.meta.profile, tag: [{ system: 'http://hl7.org/fhir/v3/ObservationValue', code: 'SUBSETTED', display: 'subsetted' }] },
      status: 'booked',
      start: booked?.start,
      end: booked?.end,
      created: booked?.created,
      participant: [{ actor: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhsNumber } }, status: 'accepted' }],
    });
    for (const secret of ['Featherstonehaugh', 'Jane', '1970-01-01', '1 High Street', 'LS1 1AA', '01234 567890', 'Reason for calling', 'DocumentReference', 'POCD_MT200001GB02']) {
      expect(text, `the search shows ${secret}`).not.toContain(secret);
    }

    // The consumer that booked it reads it whole by id.
    const read = await call('GET', `/Appointment/${booked?.id}`, 'read');
    expect(read.res.status).toBe(200);
    expect(read.json).toEqual(booked);
    const patient = read.json?.contained.find((r: Json) => r.resourceType === 'Patient');
    expect(patient).toMatchObject({ name: [expect.objectContaining({ family: 'Featherstonehaugh' })], birthDate: '1970-01-01', telecom: [expect.objectContaining({ value: '01234 567890' })] });
    expect(read.json?.description).toBe('Reason for calling');
    expect(read.json?.contained.some((r: Json) => r.resourceType === 'DocumentReference')).toBe(true);
  });

  it.each([['identifier=123'], ['identifier=https://example.org/id|9434765919'], ['foo=bar'], [''], ['_id=no%20spaces']])('answers 400 for ?%s', async (query) => {
    const { res, json } = await call('GET', `/Appointment?${query}`, 'read', undefined, { 'Ssp-InteractionID': 'urn:nhs:names:services:careconnect:fhir:rest:search:appointment' });
    expect(res.status).toBe(400);
    expect(json?.issue[0].details.coding[0].code).toBe('INVALID_PARAMETER');
  });
});

describe('routing', () => {
  it.each([
    ['POST', '/Slot', 'searchSlot', 'GET HEAD'],
    ['PUT', '/Slot', 'searchSlot', 'GET HEAD'],
    ['DELETE', '/Appointment/abc', 'cancel', 'GET HEAD PUT'],
    ['PATCH', '/Appointment/abc', 'cancel', 'GET HEAD PUT'],
    ['DELETE', '/Slot', 'searchSlot', 'GET HEAD'],
    ['POST', '/metadata', 'metadata', 'GET HEAD'],
    ['OPTIONS', '/Appointment', 'book', 'GET HEAD POST'],
  ] as const)('answers 405 with an OperationOutcome and the Allow header for %s %s, even without a token', async (method, path, interaction, allowed) => {
    const { res, json } = await call(method, path, interaction, '{}', { Authorization: undefined });
    expect(res.status).toBe(405);
    expect(json?.issue[0].code).toBe('not-supported');
    // RFC 9110: a 405 lists the methods the resource does support.
    expect(res.headers.get('allow')?.split(', ').sort().join(' ')).toBe(allowed);
  });

  it.each(['/Patient/1', '/Appointment/a/b', '/', '/STU3/2/metadata'])('answers 404 with an OperationOutcome for GET %s', async (path) => {
    const { res, json } = await call('GET', path, 'read');
    expect(res.status).toBe(404);
    expect(json?.resourceType).toBe('OperationOutcome');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });
});
