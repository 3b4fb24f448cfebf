import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { fromXml, toXml } from '@booking/fhir';
import { LocalClock } from '@booking/pas';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bookingBody, consumerHeaders, type InteractionName, type SlotForBooking } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { rawRequest } from './support/raw-http.js';
import { Stack } from './support/stack.js';

/** JSON and XML, _format and Accept, gzip both ways (spec §3, §4, §18) against real processes. */

let stack: Stack;
let slots: SlotForBooking[];
let nextSlot = 0;
const takeSlot = () => slots[nextSlot++] as SlotForBooking;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1 });
  const db = stack.openPas();
  slots = freeSlots(db);
  db.close();
});
afterAll(async () => {
  await stack?.stop();
});

type Json = Record<string, any>;
const JSON_TYPE = 'application/fhir+json;charset=utf-8';
const XML_TYPE = 'application/fhir+xml;charset=utf-8';

async function call(method: string, path: string, interaction: InteractionName, body?: BodyInit, headers: Record<string, string | undefined> = {}) {
  const res = await fetch(`${stack.baseUrl}${path}`, { method, headers: consumerHeaders(stack.baseUrl, interaction, headers), ...(body !== undefined ? { body } : {}) });
  return { res, text: await res.text() };
}

/** A body in the format its Content-Type says. */
function parse(res: Response, text: string): Json {
  const type = res.headers.get('content-type');
  if (type === JSON_TYPE) return JSON.parse(text) as Json;
  expect(type).toBe(XML_TYPE);
  const read = fromXml(text);
  if (!read.ok) throw new Error(`not FHIR XML: ${read.problem.diagnostics}\n${text}`);
  return read.value as Json;
}

const bookXml = (headers: Record<string, string | undefined> = {}, slot = takeSlot()) =>
  call('POST', '/Appointment', 'book', toXml(bookingBody(slot)), { 'Content-Type': 'application/fhir+xml', Accept: undefined, ...headers });
const bookJson = (headers: Record<string, string | undefined> = {}, slot = takeSlot()) => call('POST', '/Appointment', 'book', JSON.stringify(bookingBody(slot)), headers);

function expectOutcome(res: Response, text: string, status: number, code: string, type = XML_TYPE) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe(type);
  const oo = parse(res, text);
  expect(oo.resourceType).toBe('OperationOutcome');
  expect(oo.issue[0].details.coding[0].code).toBe(code);
  return oo;
}

describe('XML request and response bodies', () => {
  it('books with an XML body: 201 and the booked Appointment in XML (the Content-Type decides without Accept)', async () => {
    const { res, text } = await bookXml();
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe(XML_TYPE);
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?><Appointment xmlns="http://hl7.org/fhir">')).toBe(true);
    const booked = parse(res, text);
    expect(booked.status).toBe('booked');
    expect(res.headers.get('location')).toBe(`${stack.baseUrl}/Appointment/${booked.id}/_history/1`);

    // The same resource, read back as JSON, is exactly what the XML said.
    const read = await call('GET', `/Appointment/${booked.id}`, 'read');
    expect(read.res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(JSON.parse(read.text)).toEqual(booked);
  });

  it('answers XML to a JSON booking with Accept: application/fhir+xml', async () => {
    const { res, text } = await bookJson({ Accept: 'application/fhir+xml' });
    expect(res.status).toBe(201);
    expect(parse(res, text).resourceType).toBe('Appointment');
    expect(res.headers.get('content-type')).toBe(XML_TYPE);
    expect(res.headers.get('vary')).toBe('Accept, Accept-Encoding');
  });

  it('lets _format=json override Accept: application/fhir+xml', async () => {
    const { res, text } = await call('POST', '/Appointment?_format=json', 'book', JSON.stringify(bookingBody(takeSlot())), { Accept: 'application/fhir+xml' });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(JSON.parse(text).resourceType).toBe('Appointment');
  });

  it.each(['xml', 'application/fhir+xml', 'application%2Ffhir%2Bxml', 'text/xml'])('answers XML for _format=%s over Accept: application/fhir+json', async (format) => {
    const { res, text } = await call('GET', `/metadata?_format=${format}`, 'metadata');
    expect(res.status).toBe(200);
    expect(parse(res, text).resourceType).toBe('CapabilityStatement');
  });

  it.each([
    ['*/*', JSON_TYPE],
    [undefined, JSON_TYPE],
    ['application/json', JSON_TYPE],
    ['application/xml', XML_TYPE],
    ['application/xml+fhir', XML_TYPE],
    ['application/json+fhir', JSON_TYPE],
  ])('answers metadata to Accept: %s in %s', async (accept, type) => {
    const { res } = await call('GET', '/metadata', 'metadata', undefined, { Accept: accept });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
  });

  it('searches slots in XML: the searchset Bundle with every _include matches the JSON one', async () => {
    const midnight = (days: number) => {
      const date = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/London' }).format(Date.now() + days * 86_400_000);
      return encodeURIComponent(new LocalClock('Europe/London').toInstant(`${date} 00:00:00`).replace('.000Z', '+00:00'));
    };
    const includes = ['Slot:schedule', 'Schedule:actor:Practitioner', 'Schedule:actor:PractitionerRole', 'Schedule:actor:HealthcareService', 'HealthcareService:location', 'HealthcareService:providedBy'];
    const query = `/Slot?schedule.actor:healthcareservice=999999999&start=ge${midnight(1)}&start=le${midnight(4)}&status=free&${includes.map((i) => `_include=${i}`).join('&')}`;
    const json = await call('GET', query, 'searchSlot');
    const xml = await call('GET', `${query}&_format=xml`, 'searchSlot');
    expect(xml.res.status).toBe(200);
    const [fromJson, fromXml] = [parse(json.res, json.text), parse(xml.res, xml.text)];
    expect(xml.res.headers.get('content-type')).toBe(XML_TYPE);
    expect(new Set(fromXml.entry.map((e: Json) => e.resource.resourceType))).toEqual(new Set(['Slot', 'Schedule', 'HealthcareService', 'Practitioner', 'PractitionerRole', 'Organization', 'Location']));
    expect(fromXml.total).toBe(fromJson.total);
    expect(fromXml.entry).toEqual(fromJson.entry);
  });

  it('cancels with an XML body: read in XML, change the status, PUT it back', async () => {
    const created = await bookJson();
    const booked = parse(created.res, created.text);
    const read = await call('GET', `/Appointment/${booked.id}?_format=xml`, 'read');
    const current = parse(read.res, read.text);
    const { res, text } = await call('PUT', `/Appointment/${booked.id}`, 'cancel', toXml({ ...current, status: 'cancelled' }), {
      'Content-Type': 'application/fhir+xml',
      Accept: 'application/fhir+xml',
      'If-Match': read.res.headers.get('etag') ?? undefined,
    });
    expect(res.status).toBe(200);
    expect(parse(res, text)).toMatchObject({ id: booked.id, status: 'cancelled', meta: { versionId: '2' } });
  });
});

describe('errors in the format asked for', () => {
  it('422 slot taken, as an XML OperationOutcome', async () => {
    const slot = takeSlot();
    expect((await bookXml({}, slot)).res.status).toBe(201);
    const { res, text } = await bookXml({}, slot);
    const oo = expectOutcome(res, text, 422, 'processing');
    expect(oo.issue[0].diagnostics).toBe('Slot no longer available');
    // The harness's XPath reads the first coding of the XML: the issue-type one, the Spine one after it.
    expect(text).toMatch(/<details><coding><system value="http:\/\/hl7\.org\/fhir\/issue-type"\/><code value="processing"\/><display value="Processing Failure"\/><\/coding><coding><system value="https:\/\/fhir\.nhs\.uk\/STU3\/CodeSystem\/Spine-ErrorOrWarningCode-1"\/><code value="INVALID_REQUEST_STATE"\/>/);
  });

  it('403 without a token, as an XML OperationOutcome when _format=xml', async () => {
    const { res, text } = await call('POST', '/Appointment?_format=xml', 'book', JSON.stringify(bookingBody(takeSlot())), { Authorization: undefined });
    expectOutcome(res, text, 403, 'ACCESS DENIED');
  });

  it('403 without a token, in XML when only the body was XML', async () => {
    const { res, text } = await bookXml({ Authorization: undefined });
    expectOutcome(res, text, 403, 'ACCESS DENIED');
  });

  it.each([
    ['_format=text/html', '?_format=text/html', {}],
    ['_format=foo', '?_format=foo', {}],
    ['Accept: text/html', '', { Accept: 'text/html' }],
  ])('415 for %s, the OperationOutcome in JSON', async (_name, query, headers) => {
    const { res, text } = await call('GET', `/metadata${query}`, 'metadata', undefined, headers);
    expectOutcome(res, text, 415, 'UNSUPPORTED_MEDIA_TYPE', JSON_TYPE);
  });
});

describe('request media types', () => {
  it.each(['application/json', 'application/xml', 'text/xml'])('415 for a body sent as %s', async (type) => {
    const slot = takeSlot();
    const body = type.includes('xml') ? toXml(bookingBody(slot)) : JSON.stringify(bookingBody(slot));
    const { res, text } = await call('POST', '/Appointment', 'book', body, { 'Content-Type': type, Accept: 'application/fhir+json' });
    expectOutcome(res, text, 415, 'UNSUPPORTED_MEDIA_TYPE', JSON_TYPE);
  });

  it('accepts the legacy application/json+fhir and application/xml+fhir', async () => {
    const json = await bookJson({ 'Content-Type': 'application/json+fhir', Accept: 'application/json+fhir' });
    expect(json.res.status).toBe(201);
    expect(json.res.headers.get('content-type')).toBe(JSON_TYPE);
    const xml = await bookXml({ 'Content-Type': 'application/xml+fhir', Accept: 'application/xml+fhir' });
    expect(xml.res.status).toBe(201);
    expect(xml.res.headers.get('content-type')).toBe(XML_TYPE);
  });

  it('400 MESSAGE_NOT_WELL_FORMED for truncated XML', async () => {
    const xml = toXml(bookingBody(takeSlot()));
    const { res, text } = await call('POST', '/Appointment', 'book', xml.slice(0, -40), { 'Content-Type': 'application/fhir+xml', Accept: undefined });
    expectOutcome(res, text, 400, 'MESSAGE_NOT_WELL_FORMED');
  });

  it('400 for XML with a DTD (billion laughs), refused before expanding anything', async () => {
    const lol = `<!DOCTYPE Appointment [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('')}]>`;
    const body = toXml(bookingBody(takeSlot())).replace('<?xml version="1.0" encoding="UTF-8"?>', `<?xml version="1.0" encoding="UTF-8"?>${lol}`).replace('Reason for calling', '&lol9;');
    const { res, text } = await call('POST', '/Appointment', 'book', body, { 'Content-Type': 'application/fhir+xml', Accept: undefined });
    // Refused for the DTD itself (so nothing was expanded); no timing is asserted.
    expect(expectOutcome(res, text, 400, 'BAD_REQUEST').issue[0].diagnostics).toMatch(/DTD/);
  });

  it('400 for XML in another namespace', async () => {
    const body = toXml(bookingBody(takeSlot())).replace('xmlns="http://hl7.org/fhir"', 'xmlns="urn:not-fhir"');
    const { res, text } = await call('POST', '/Appointment', 'book', body, { 'Content-Type': 'application/fhir+xml', Accept: undefined });
    expectOutcome(res, text, 400, 'BAD_REQUEST');
  });
});

describe('gzip', () => {
  it('accepts gzip request bodies, JSON and XML', async () => {
    const json = await call('POST', '/Appointment', 'book', gzipSync(JSON.stringify(bookingBody(takeSlot()))), { 'Content-Encoding': 'gzip' });
    expect(json.res.status).toBe(201);
    const xml = await call('POST', '/Appointment', 'book', gzipSync(toXml(bookingBody(takeSlot()))), { 'Content-Encoding': 'gzip', 'Content-Type': 'application/fhir+xml' });
    expect(xml.res.status).toBe(201);
    expect(parse(xml.res, xml.text).status).toBe('booked');
  });

  it('gzips the response when asked, with the request-id and cache headers intact', async () => {
    const requestId = randomUUID();
    const headers = consumerHeaders(stack.baseUrl, 'book', { 'X-Request-ID': requestId, 'Accept-Encoding': 'gzip' });
    const body = gzipSync(JSON.stringify(bookingBody(takeSlot())));
    // node:http, not fetch: fetch would inflate the body before we could see it.
    const raw = await rawRequest(`${stack.baseUrl}/Appointment`, { method: 'POST', headers: { ...headers, 'Content-Encoding': 'gzip' }, body });
    expect(raw.status).toBe(201);
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(raw.headers['content-type']).toBe(JSON_TYPE);
    expect(raw.headers['x-correlation-id']).toBe(requestId);
    expect(raw.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(raw.headers['cache-control']).toBe('no-store');
    expect(raw.headers.etag).toBe('W/"1"');
    expect(raw.headers.vary).toBe('Accept, Accept-Encoding');
    const appointment = JSON.parse(gunzipSync(raw.body).toString('utf8')) as Json;
    expect(appointment).toMatchObject({ resourceType: 'Appointment', status: 'booked', meta: { versionId: '1' } });
    expect(raw.headers.location).toBe(`${stack.baseUrl}/Appointment/${appointment.id}/_history/1`);
  });

  it('gzips errors too, and nothing when not asked', async () => {
    const gz = await call('GET', '/metadata?_format=xml', 'metadata', undefined, { Authorization: undefined, 'Accept-Encoding': 'gzip' });
    expect(gz.res.headers.get('content-encoding')).toBe('gzip'); // fetch inflated the body but keeps the header
    expectOutcome(gz.res, gz.text, 403, 'ACCESS DENIED');
    const plain = await call('GET', '/metadata', 'metadata', undefined, { 'Accept-Encoding': 'identity' });
    expect(plain.res.headers.get('content-encoding')).toBeNull();
  });
});
