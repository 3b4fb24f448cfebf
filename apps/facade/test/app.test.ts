import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { problems, toXml } from '@booking/fhir';
import { bundleReply } from '@booking/queue';
import { describe, expect, it } from 'vitest';
import { preferredReturn } from '../src/answer.js';
import { AuditLog, type AuditRecord } from '../src/audit/log.js';
import { queryAudit } from '../src/audit/query.js';
import { INTERACTIONS } from '../src/interactions.js';
import { BASE, bearerWith, booking, headersFor, inProcessApp, resourceReply, stored } from './support.js';

/**
 * The consumer API in process (createApp with a scripted JobRunner): the request ladder of spec §18,
 * validation, Prefer, and the one error envelope. Redis, workers and the PAS are left to test/.
 */

async function outcome(res: Response) {
  const oo = (await res.json()) as any;
  expect(oo.resourceType).toBe('OperationOutcome');
  // §14: every error carries a Spine-ErrorOrWarningCode-1 coding, first but for the slot-taken 422
  // (§9.4), where the harness's issue-type coding comes first.
  const spineAt = oo.issue[0].details.coding[0].system === 'http://hl7.org/fhir/issue-type' ? 1 : 0;
  expect(oo.issue[0].details.coding[spineAt].system).toBe('https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1');
  return oo;
}

describe('the request ladder (404/405 → 403 → 400 → 415 → 413 → 400 → 422)', () => {
  // Each rung's request is also wrong in every way checked later, so the first rung must answer.
  const worst = { Authorization: undefined, 'Ssp-TraceID': 'nope', 'Content-Type': 'text/plain' };

  it('404 for an unknown path and 405 for a wrong verb, before anything else', async () => {
    const { call } = inProcessApp();
    const unknown = await call('GET', '/Patient', 'read', undefined, worst);
    expect(unknown.status).toBe(404);
    expect((await outcome(unknown)).issue[0].details.coding[0].code).toBe('NO_RECORD_FOUND');
    const wrongVerb = await call('DELETE', '/Appointment/1', 'cancel', undefined, worst);
    expect(wrongVerb.status).toBe(405);
    expect((await outcome(wrongVerb)).issue[0].code).toBe('not-supported');
  });

  it('403 for a missing JWT before header, media-type and body checks', async () => {
    const { book, jobs } = inProcessApp();
    const res = await book('{', worst);
    expect(res.status).toBe(403);
    expect((await outcome(res)).issue[0].details.coding[0].code).toBe('ACCESS DENIED');
    expect(jobs).toHaveLength(0);
  });

  it('400 for SSP headers before the media type', async () => {
    const { book } = inProcessApp();
    const res = await book('{', { 'Ssp-TraceID': 'nope', 'Content-Type': 'text/plain' });
    expect(res.status).toBe(400);
    expect((await outcome(res)).issue[0].details.coding[0].code).toBe('MISSING_OR_INVALID_HEADER');
  });

  it('400 for an X-Request-ID on POST or PUT that is not a UUID (spec §3.1); a UUID in capitals is one', async () => {
    const { book, call, jobs } = inProcessApp(() => resourceReply(stored(booking()), 201));
    const cancel = (requestId: string) => call('PUT', '/Appointment/a1', 'cancel', JSON.stringify({ ...stored(booking()), status: 'cancelled' }), { 'If-Match': 'W/"1"', 'X-Request-ID': requestId });
    for (const requestId of ['req-1', 'not-a-uuid', '123e4567e89b12d3a456426614174000', '{123e4567-e89b-12d3-a456-426614174000}', '123e4567-e89b-12d3-a456-42661417400g']) {
      for (const res of [await book(booking(), { 'X-Request-ID': requestId }), await cancel(requestId)]) {
        expect(res.status).toBe(400);
        const issue = (await outcome(res)).issue[0];
        expect(issue.details.coding[0].code).toBe('MISSING_OR_INVALID_HEADER');
        expect(issue.diagnostics).toMatch(/X-Request-ID .*a UUID/);
      }
    }
    expect(jobs).toHaveLength(0);
    expect((await book(booking(), { 'X-Request-ID': '123E4567-E89B-12D3-A456-426614174000' })).status).toBe(201);
    expect(jobs).toMatchObject([{ kind: 'book', requestId: '123e4567-e89b-12d3-a456-426614174000' }]);
  });

  it('415 for the media type before the size and the parse', async () => {
    const { book } = inProcessApp();
    const res = await book(`{${' '.repeat(70 * 1024)}`, { 'Content-Type': 'application/xml' });
    expect(res.status).toBe(415);
    expect((await outcome(res)).issue[0].details.coding[0].code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('413 for a body over the limit (gzip counted once inflated) before the parse', async () => {
    const { book } = inProcessApp();
    expect((await book(`{${' '.repeat(70 * 1024)}`)).status).toBe(413);
    const bomb = gzipSync(`{"resourceType":"Appointment",${' '.repeat(200 * 1024)}}`);
    const res = await inProcessApp().app.request(`${BASE}/Appointment`, { method: 'POST', body: bomb, headers: headersFor('book', { 'Content-Type': 'application/fhir+json', 'Content-Encoding': 'gzip' }) });
    expect(res.status).toBe(413);
  });

  it('400 for a body that does not parse, or is not an Appointment, or breaks the contact ranks; 422 for the rest', async () => {
    const { book, jobs } = inProcessApp();
    expect((await book('{"resourceType":')).status).toBe(400);
    expect((await book({ resourceType: 'Patient' })).status).toBe(400);
    const twoPrimaries = booking();
    twoPrimaries.contained[1].telecom.push({ system: 'phone', value: '07700 900000', rank: 1 });
    twoPrimaries.foo = 'unknown and still a 400 first';
    expect((await book(twoPrimaries)).status).toBe(400);
    const invalid = booking();
    invalid.priority = 'urgent';
    expect((await book(invalid)).status).toBe(422);
    expect(jobs).toHaveLength(0);
  });

  it('a valid booking reaches the queue with the consumer request id, and the worker\u2019s problem is rendered', async () => {
    const { book, jobs } = inProcessApp();
    const requestId = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const res = await book(booking(), { 'X-Request-ID': requestId });
    expect(res.status).toBe(422);
    expect((await outcome(res)).issue[0].details.coding[0].code).toBe('REFERENCE_NOT_FOUND');
    expect(jobs).toMatchObject([{ kind: 'book', requestId }]);
  });
});

describe('profile validation of a booking (422 INVALID_RESOURCE naming the element), JSON and XML alike', () => {
  // Unknown elements are not here: spec §4 says to ignore them (next describe).
  const cases: [string, (b: Record<string, any>) => void, string, ((xml: string) => string)?][] = [
    ['an extension with a url and no value', (b) => (b.extension = [{ url: 'https://example.org/x' }]), 'Appointment.extension[0]'],
    ['an extension with a value and no url', (b) => (b.extension = [{ valueString: 'x' }]), 'Appointment.extension[0].url'],
    ['priority "urgent"', (b) => (b.priority = 'urgent'), 'Appointment.priority'],
    ['minutesDuration -5', (b) => (b.minutesDuration = -5), 'Appointment.minutesDuration'],
    ['an unknown status code', (b) => (b.participant[0].status = 'maybe'), 'Appointment.participant[0].status'],
    [
      'two values of a choice type',
      (b) => {
        b.contained[1].deceasedBoolean = false;
        b.contained[1].deceasedDateTime = '2020-01-01';
      },
      'Appointment.contained[1].deceased',
    ],
    ['a Slot without its profile\u2019s identifier (CareConnect-Slot-1 identifier 1..1)', (b) => delete b.contained[2].identifier, 'Appointment.contained[2].identifier'],
    ['a Patient without an official name (CareConnect-Patient-1 name:official 1..1)', (b) => (b.contained[1].name[0].use = 'usual'), 'Appointment.contained[1].name'],
    ['an NHS number verification status outside its value set', (b) => (b.contained[1].identifier[0].extension[0].valueCodeableConcept.coding[0].code = '99'), 'Appointment.contained[1].identifier[0].extension[0].valueCodeableConcept'],
    ['a DocumentReference type coding without display', (b) => delete b.contained[0].type.coding[0].display, 'Appointment.contained[0].type.coding[0].display'],
  ];

  it.each(cases)('%s', async (_, spoil, expression, spoilXml) => {
    const body = booking();
    const xmlText = spoilXml?.(toXml(body));
    spoil(body);
    const { book, bookXml, call, jobs } = inProcessApp();
    const json = await book(body);
    expect(json.status).toBe(422);
    const oo = await outcome(json);
    expect(oo.issue[0]).toMatchObject({ code: 'invalid', details: { coding: [{ code: 'INVALID_RESOURCE' }] } });
    expect(oo.issue[0].location).toContain(expression);
    expect(oo.issue[0]).not.toHaveProperty('expression'); // Spine-OperationOutcome-1: expression max 0

    const xml = xmlText ? await call('POST', '/Appointment', 'book', xmlText, { 'Content-Type': 'application/fhir+xml', Accept: 'application/fhir+json' }) : await bookXml(body);
    expect(xml.status).toBe(422);
    expect((await outcome(xml)).issue[0].location).toEqual(oo.issue[0].location);
    expect(jobs).toHaveLength(0);
  });

  it('with several findings, one issue per element after the summary', async () => {
    const body = booking();
    body.minutesDuration = -5;
    body.priority = 'urgent';
    const { book } = inProcessApp();
    const oo = await outcome(await book(body));
    expect(oo.issue[0].location).toEqual(['Appointment.priority', 'Appointment.minutesDuration']);
    expect(oo.issue.slice(1).map((i: any) => i.location)).toEqual([['Appointment.priority'], ['Appointment.minutesDuration']]);
    for (const issue of oo.issue) expect(issue.details.coding[0].code).toBe('INVALID_RESOURCE');
  });

  it('accepts the same valid booking as JSON and as XML, and hands the same Appointment to the worker', async () => {
    const { book, bookXml, jobs } = inProcessApp();
    const body = booking();
    await book(body);
    await bookXml(body);
    expect(jobs).toHaveLength(2);
    const [a, b] = jobs as any[];
    expect(b.appointment).toEqual(a.appointment);
  });

  it('accepts a booking without supportingInformation and its DocumentReference (SHOULD, "if available")', async () => {
    const body = booking();
    delete body.supportingInformation;
    body.contained = body.contained.filter((r: any) => r.resourceType !== 'DocumentReference');
    const created = stored(body);
    const { book, jobs } = inProcessApp(() => resourceReply(created, 201));
    const res = await book(body);
    expect(res.status).toBe(201);
    expect(jobs).toHaveLength(1);
  });

  it('still checks a DocumentReference that is sent: it must be referenced (dom-3) and meet §9.1', async () => {
    const { book } = inProcessApp();
    const unreferenced = booking();
    delete unreferenced.supportingInformation;
    const res = await book(unreferenced);
    expect(res.status).toBe(422);
    expect((await outcome(res)).issue[0].diagnostics).toMatch(/dom-3/);
    const notCurrent = booking();
    notCurrent.contained[0].status = 'superseded';
    expect((await book(notCurrent)).status).toBe(422);
  });

  it('answers a resourceType that is an object (odd but well-formed JSON) with a 422 naming it, on book and cancel alike', async () => {
    const { book, call, jobs } = inProcessApp();
    const body = booking();
    body.contained[0].resourceType = { toString: 1 };
    const booked = await book(body);
    expect(booked.status).toBe(422);
    expect((await outcome(booked)).issue[0].location).toContain('Appointment.contained[0].resourceType');
    const cancel: Record<string, any> = { ...stored(booking()), status: 'cancelled' };
    cancel.contained[0].resourceType = { toString: 1 };
    const cancelled = await call('PUT', '/Appointment/a1', 'cancel', JSON.stringify(cancel), { 'If-Match': 'W/"1"' });
    expect(cancelled.status).toBe(422);
    expect((await outcome(cancelled)).issue[0].location).toContain('Appointment.contained[0].resourceType');
    expect(jobs).toHaveLength(0);
  });

  it('validates a cancel body as FHIR too, before the worker sees it', async () => {
    const { call, jobs } = inProcessApp();
    const body = { ...stored(booking()), status: 'cancelled', priority: 'urgent' };
    const res = await call('PUT', '/Appointment/a1', 'cancel', JSON.stringify(body), { 'If-Match': 'W/"1"' });
    expect(res.status).toBe(422);
    expect((await outcome(res)).issue[0].location).toContain('Appointment.priority');
    expect(jobs).toHaveLength(0);
  });
});

describe('unknown elements are ignored (spec §4: "SHALL ignore unknown elements/extensions", acceptUnknown both)', () => {
  // FHIR.js writes no unknown element into XML, so the XML cases edit the text.
  const unknownJson = (b: Record<string, any>) => {
    b.patientInstruction = 'Bring your medication'; // an R4 element
    b.contained[1].nhsNumberTraceDate = '2030-01-01';
    b.contained[2].colour = 'blue';
  };
  const unknownXml = (xml: string) =>
    xml
      .replace('<status value="booked"/>', '<patientInstruction value="Bring your medication"/><status value="booked"/>')
      .replace('</Slot>', '<colour value="blue"/></Slot>')
      .replace('</Patient>', '<nhsNumberTraceDate xmlns="urn:example:vendor" value="2030-01-01"/></Patient>');

  it('a booking with them is booked as if they were not there: the worker never sees them, JSON and XML alike', async () => {
    const { book, call, jobs } = inProcessApp();
    const sent = booking();
    const body = structuredClone(sent);
    const xmlText = unknownXml(toXml(body));
    unknownJson(body);
    await book(body);
    await call('POST', '/Appointment', 'book', xmlText, { 'Content-Type': 'application/fhir+xml' });
    expect(jobs).toHaveLength(2);
    for (const job of jobs as any[]) expect(job.appointment).toEqual(sent);
  });

  it('a cancel with them is handed to the worker without them', async () => {
    const { call, jobs } = inProcessApp();
    const sent: Record<string, any> = { ...stored(booking()), status: 'cancelled' };
    const body = structuredClone(sent);
    unknownJson(body);
    await call('PUT', '/Appointment/a1', 'cancel', JSON.stringify(body), { 'If-Match': 'W/"1"' });
    expect(jobs).toHaveLength(1);
    expect((jobs[0] as any).appointment).toEqual(sent);
  });
});

describe('Prefer on create and update', () => {
  const created = stored(booking());

  it('return=minimal: 201 with an empty body, Location, ETag and Last-Modified still there', async () => {
    const { book } = inProcessApp(() => resourceReply(created, 201));
    const res = await book(booking(), { Prefer: 'return=minimal' });
    expect(res.status).toBe(201);
    expect(await res.text()).toBe('');
    expect(res.headers.get('location')).toBe(`${BASE}/Appointment/a1/_history/1`);
    expect(res.headers.get('etag')).toBe('W/"1"');
    expect(res.headers.get('last-modified')).toBe('Tue, 01 Jan 2030 09:00:00 GMT');
  });

  it('return=representation and no Prefer: the resource', async () => {
    const { book } = inProcessApp(() => resourceReply(created, 201));
    for (const prefer of ['return=representation', undefined]) {
      const res = await book(booking(), { Prefer: prefer });
      expect(res.status).toBe(201);
      expect(((await res.json()) as any).id).toBe('a1');
    }
  });

  it('return=OperationOutcome: an informational outcome, RESOURCE_CREATED / RESOURCE_UPDATED', async () => {
    const cancelled = stored(booking(), '2', 'cancelled');
    const { book, call } = inProcessApp((job) => (job.kind === 'book' ? resourceReply(created, 201) : resourceReply(cancelled, 200)));
    const res = await book(booking(), { Prefer: 'return=OperationOutcome' });
    expect(res.status).toBe(201);
    const oo = (await res.json()) as any;
    expect(oo.issue[0]).toMatchObject({ severity: 'information', code: 'informational', details: { coding: [{ code: 'RESOURCE_CREATED' }] } });

    const update = await call('PUT', '/Appointment/a1', 'cancel', JSON.stringify({ ...created, status: 'cancelled' }), { 'If-Match': 'W/"1"', Prefer: 'return=OperationOutcome' });
    expect(update.status).toBe(200);
    expect(((await update.json()) as any).issue[0].details.coding[0].code).toBe('RESOURCE_UPDATED');
    expect(update.headers.get('etag')).toBe('W/"2"');

    const minimal = await call('PUT', '/Appointment/a1', 'cancel', JSON.stringify({ ...created, status: 'cancelled' }), { 'If-Match': 'W/"1"', Prefer: 'return=minimal' });
    expect(minimal.status).toBe(200);
    expect(await minimal.text()).toBe('');
    expect(minimal.headers.get('location')).toBe(`${BASE}/Appointment/a1/_history/2`);
  });

  it('reads the header as RFC 7240 writes it', () => {
    expect(preferredReturn('return=minimal')).toBe('minimal');
    expect(preferredReturn('handling=strict, return="minimal"')).toBe('minimal');
    expect(preferredReturn('return=OperationOutcome')).toBe('OperationOutcome');
    expect(preferredReturn('return=representation')).toBeUndefined();
    expect(preferredReturn('respond-async')).toBeUndefined();
    expect(preferredReturn(undefined)).toBeUndefined();
  });
});

describe('one error envelope', () => {
  it('the slot-taken 422 carries the harness\u2019s issue-type coding first and the Spine coding second', async () => {
    const { book } = inProcessApp(() => ({ type: 'problem', problem: problems.slotUnavailable() }));
    const res = await book(booking());
    expect(res.status).toBe(422);
    const oo = await outcome(res);
    expect(oo.issue[0]).toMatchObject({
      severity: 'error',
      code: 'processing',
      diagnostics: 'Slot no longer available',
      // EB_BookAppointment.tstp reads details/coding/system (code, display) as one string: the first coding's.
      details: { coding: [{ system: 'http://hl7.org/fhir/issue-type', code: 'processing', display: 'Processing Failure' }, { system: 'https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1', code: 'INVALID_REQUEST_STATE' }] },
    });
  });

  it('a queue timeout and an unexpected error are 500 OperationOutcomes in the format asked for', async () => {
    const { JobError } = await import('../src/job-runner.js');
    const { book } = inProcessApp(() => {
      throw new JobError('timeout', 'no reply');
    });
    const res = await book(booking(), { Accept: 'application/fhir+xml' });
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toMatch(/fhir\+xml/);
    expect(await res.text()).toMatch(/INTERNAL_SERVER_ERROR/);
  });

  it('slot search: a time without an offset is 400, an upside-down window is 400 INVALID_PARAMETER', async () => {
    const { call, jobs } = inProcessApp();
    const noOffset = await call('GET', '/Slot?service=999999999&start=ge2030-01-01T10:00:00', 'searchSlot');
    expect(noOffset.status).toBe(400);
    const upsideDown = await call('GET', `/Slot?service=999999999&start=${encodeURIComponent('ge2030-01-02T00:00:00+00:00')}&start=${encodeURIComponent('le2030-01-01T00:00:00+00:00')}`, 'searchSlot');
    expect(upsideDown.status).toBe(400);
    expect((await outcome(upsideDown)).issue[0].details.coding[0].code).toBe('INVALID_PARAMETER');
    expect(jobs).toHaveLength(0);
  });

  it("slot search: an absolute service reference is read under the facade's base URL only, another server's is 400", async () => {
    const { call, jobs } = inProcessApp();
    const other = await call('GET', `/Slot?service=${encodeURIComponent('https://other-provider.example/fhir/HealthcareService/999999999')}`, 'searchSlot');
    expect(other.status).toBe(400);
    expect((await outcome(other)).issue[0].details.coding[0].code).toBe('INVALID_PARAMETER');
    expect(jobs).toHaveLength(0);
    // Ours reaches the worker (whose answer here is the default test reply).
    await call('GET', `/Slot?service=${encodeURIComponent(`${BASE}/HealthcareService/999999999`)}`, 'searchSlot');
    expect(jobs).toMatchObject([{ kind: 'search-slot', search: { serviceId: '999999999' } }]);
  });
});

describe('search answers', () => {
  const search = `/Slot?service=999999999&start=${encodeURIComponent('ge2030-01-01T00:00:00+00:00')}`;
  const bundle = { resourceType: 'Bundle', type: 'searchset', total: 0 };

  it('sends the worker\u2019s gzipped Bundle as it is to a consumer that accepts gzip, inflated to one that does not, and as XML when asked', async () => {
    const reply = bundleReply(bundle);
    const { call } = inProcessApp(() => reply);
    const zipped = await call('GET', search, 'searchSlot', undefined, { 'Accept-Encoding': 'gzip' });
    expect(zipped.status).toBe(200);
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(zipped.headers.get('content-type')).toBe('application/fhir+json;charset=utf-8');
    expect(zipped.headers.get('vary')).toBe('Accept, Accept-Encoding');
    const bytes = Buffer.from(await zipped.arrayBuffer());
    expect(bytes.equals(Buffer.from(reply.gzip, 'base64'))).toBe(true); // the worker's bytes, not gzipped again
    expect(zipped.headers.get('content-length')).toBe(String(bytes.byteLength));
    expect(gunzipSync(bytes).toString()).toBe(JSON.stringify(bundle));
    for (const acceptEncoding of [undefined, 'gzip;q=0', 'identity']) {
      const plain = await call('GET', search, 'searchSlot', undefined, acceptEncoding ? { 'Accept-Encoding': acceptEncoding } : {});
      expect(plain.headers.get('content-encoding'), acceptEncoding).toBeNull();
      expect(await plain.text(), acceptEncoding).toBe(JSON.stringify(bundle));
    }
    const xml = await call('GET', search, 'searchSlot', undefined, { Accept: 'application/fhir+xml', 'Accept-Encoding': 'gzip' });
    expect(gunzipSync(Buffer.from(await xml.arrayBuffer())).toString()).toMatch(/<Bundle xmlns="http:\/\/hl7.org\/fhir">.*<type value="searchset"\/>/s);
  });

  it('still reads the JSON text a worker of the previous release sends', async () => {
    const { call } = inProcessApp(() => ({ type: 'bundle', json: JSON.stringify(bundle) }) as never);
    const res = await call('GET', search, 'searchSlot');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(JSON.stringify(bundle));
  });

  it('refuses a reply from a worker of an older release (a Bundle object) with 500, never an empty 200', async () => {
    const { call } = inProcessApp(() => ({ type: 'bundle', bundle }) as never);
    const res = await call('GET', search, 'searchSlot');
    expect(res.status).toBe(500);
    expect(await res.text()).toMatch(/same release/);
  });
});

describe('the interaction table', () => {
  it('routes every interaction it declares, and the CapabilityStatement lists them', async () => {
    const { call, app } = inProcessApp(() => ({ type: 'empty' }));
    const statement = (await (await call('GET', '/metadata', 'metadata')).json()) as any;
    const appointment = statement.rest[0].resource.find((r: any) => r.type === 'Appointment');
    expect(appointment.interaction.map((i: any) => i.code).sort()).toEqual(INTERACTIONS.filter((i) => i.fhirCode?.type === 'Appointment').map((i) => i.fhirCode?.code).sort());
    // Every declared path answers its own verb (no 404/405 from the table's own check).
    for (const i of INTERACTIONS) {
      const path = i.path.replace(':id', 'a1').replace(':vid', '1');
      const res = await app.request(`${BASE}${path}`, { method: i.method });
      expect([404, 405]).not.toContain(res.status);
    }
  });

  it('declares Appointment versioning as versioned-update: an update must name the version it changes in If-Match (§11.1, §13.2)', async () => {
    const { call } = inProcessApp(() => ({ type: 'empty' }));
    const statement = (await (await call('GET', '/metadata', 'metadata')).json()) as any;
    const appointment = statement.rest[0].resource.find((r: any) => r.type === 'Appointment');
    // STU3 ResourceVersionPolicy: versioned-update = versionId kept and e-tags enforced on update.
    expect(appointment).toMatchObject({ versioning: 'versioned-update', readHistory: true, updateCreate: false });
  });

  it('XML error bodies come from the same renderer', async () => {
    const { call } = inProcessApp();
    const res = await call('GET', '/Patient?_format=xml', 'read');
    expect(res.status).toBe(404);
    expect(await res.text()).toContain(toXml({ resourceType: 'OperationOutcome' }).slice(0, 20));
  });
});

describe('JWT scopes per interaction (spec §5.2, with the scope history "for tolerance")', () => {
  // Written out here rather than read from the interaction table, so that a change there must be meant.
  const SLOT_READ = ['organization/slot.read', 'organization/*.read']; // the harness's metadata token and the Postman sample use organization/*.read
  const APPOINTMENT_READ = ['patient/appointment.read', 'patient/appointment.write']; // before 0.2.0-beta get-by-id used the write scope
  const APPOINTMENT_WRITE = ['patient/appointment.write'];
  const APPOINTMENT_SEARCH = ['patient/appointment.read']; // listing a patient's appointments: never on a book/cancel token
  const future = encodeURIComponent('ge2030-01-01T00:00:00+00:00');
  const cancelBody = JSON.stringify({ ...stored(booking()), status: 'cancelled' });
  const CASES = {
    metadata: { method: 'GET', path: '/metadata', as: 'metadata', accepts: SLOT_READ },
    'search-slot': { method: 'GET', path: `/Slot?service=999999999&start=${future}`, as: 'searchSlot', accepts: SLOT_READ },
    'search-appointment': { method: 'GET', path: '/Appointment?identifier=9658218873', as: 'searchAppointment', accepts: APPOINTMENT_SEARCH },
    read: { method: 'GET', path: '/Appointment/a1', as: 'read', accepts: APPOINTMENT_READ },
    vread: { method: 'GET', path: '/Appointment/a1/_history/1', as: 'read', accepts: APPOINTMENT_READ },
    book: { method: 'POST', path: '/Appointment', as: 'book', body: JSON.stringify(booking()), accepts: APPOINTMENT_WRITE },
    cancel: { method: 'PUT', path: '/Appointment/a1', as: 'cancel', body: cancelBody, headers: { 'If-Match': 'W/"1"' }, accepts: APPOINTMENT_WRITE },
  } as const;
  const SCOPES = ['organization/slot.read', 'organization/*.read', 'patient/appointment.read', 'patient/appointment.write', 'patient/*.read', 'patient/*.write', 'organization/*.write'];

  it('covers every interaction of the table', () => {
    expect(Object.keys(CASES).sort()).toEqual(INTERACTIONS.map((i) => i.name).sort());
  });

  for (const [name, t] of Object.entries(CASES)) {
    it.each(SCOPES)(`${name}: %s`, async (scope) => {
      const { call, jobs } = inProcessApp(() => ({ type: 'empty' }));
      const res = await call(t.method, t.path, t.as, 'body' in t ? t.body : undefined, { ...('headers' in t ? t.headers : {}), Authorization: bearerWith(scope) });
      if ((t.accepts as readonly string[]).includes(scope)) {
        expect(res.status, await res.clone().text()).not.toBe(403);
        if (name === 'metadata') expect(res.status).toBe(200);
        else expect(jobs).toHaveLength(1); // authorised, and through to the worker
      } else {
        expect(res.status).toBe(403);
        expect((await outcome(res)).issue[0].diagnostics).toMatch(/requested_scope/);
        expect(jobs).toHaveLength(0);
      }
    });
  }

  it('the harness\u2019s own tokens: the metadata token (organization/*.read) gets the CapabilityStatement; the book/cancel token on slot search is 403 (SFFSWithInvalidJWTScope)', async () => {
    const { call } = inProcessApp();
    // As jwt_templates/111_uec_jwt_template_metadata.fhir3.txt has it, its sds-user-id system without "/Id" included.
    const practitioner = { resourceType: 'Practitioner', id: '10019', identifier: [{ system: 'https://fhir.nhs.uk/sds-user-id', value: '111222333444' }], name: [{ family: 'AssurancePractitioner', given: ['AssuranceTest'], prefix: ['Mr'] }] };
    const metadata = await call('GET', '/metadata', 'metadata', undefined, { Authorization: bearerWith('organization/*.read', { requesting_practitioner: practitioner }), Accept: 'application/fhir+xml' });
    expect(metadata.status).toBe(200);
    expect(await metadata.text()).toMatch(/<CapabilityStatement xmlns="http:\/\/hl7.org\/fhir">/);
    const slots = await call('GET', `/Slot?schedule.actor%3Ahealthcareservice=999999996&start=${future}`, 'searchSlot', undefined, { Authorization: bearerWith('patient/appointment.write') });
    expect(slots.status).toBe(403);
    expect((await outcome(slots)).issue[0].diagnostics).toBe('JWT rejected: claim "requested_scope" must be "organization/slot.read" or "organization/*.read" for this interaction');
  });
});

describe('GET /Slot: the query is judged before the token (harness SFFSWithInvalidQuery / SFFSWithInvalidJWTaud)', () => {
  const day = (n: number) => encodeURIComponent(new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10) + 'T00:00:00+00:00');
  const badAud = () => bearerWith('organization/slot.read', { aud: 'notanendpoint' });
  const slots = (query: string, headers: Record<string, string | undefined> = {}) => {
    const app = inProcessApp(() => ({ type: 'empty' }));
    return { ...app, res: app.call('GET', `/Slot?${query}`, 'searchSlot', undefined, { Accept: 'application/fhir+xml', Authorization: badAud(), ...headers }) };
  };

  it('a bogus parameter with a bad aud is 400 INVALID_PARAMETER (as the harness sends it), the same query with valid parameters 403', async () => {
    const bogus = slots(`schedule.actor%3Ahealthcareservice=999999997&startXXXXXXX=ge${day(1)}&start=le${day(4)}&status=free&_include=Slot%3Aschedule`);
    const res = await bogus.res;
    expect(res.status).toBe(400);
    const xml = await res.text();
    expect(xml).toMatch(/<details><coding><system value="https:\/\/fhir.nhs.uk\/STU3\/CodeSystem\/Spine-ErrorOrWarningCode-1"\/><code value="INVALID_PARAMETER"\/>/);
    expect(xml).toContain('startXXXXXXX');
    expect(bogus.jobs).toHaveLength(0);
    const valid = slots(`schedule.actor%3Ahealthcareservice=999999996&start=ge${day(1)}&start=le${day(4)}&status=free`);
    expect((await valid.res).status).toBe(403);
    expect(valid.jobs).toHaveLength(0);
  });

  it.each([
    ['no service', `start=ge${day(1)}`],
    ['a malformed start', 'service=999999999&start=ge2030-13-01'],
    ['a time without an offset', 'service=999999999&start=ge2030-01-01T10:00:00'],
    ['both bounds in the past', `service=999999999&start=ge${day(-4)}&start=le${day(-1)}`],
    ['a bad _count', 'service=999999999&_count=0'],
    ['an unknown status', 'service=999999999&status=nope'],
  ])('%s: 400 before the token, and before the SSP headers too', async (_name, query) => {
    const { res, jobs } = slots(query, { Authorization: undefined, 'Ssp-TraceID': 'nope', Accept: undefined });
    const answer = await res;
    expect(answer.status).toBe(400);
    expect((await outcome(answer)).issue[0].details.coding[0].code).toBe('INVALID_PARAMETER');
    expect(jobs).toHaveLength(0);
  });

  it('everything else keeps the §18 order: 405 first, then the token, then the SSP headers', async () => {
    const { app, call } = inProcessApp();
    const post = await app.request(`${BASE}/Slot?startXXXXXXX=1`, { method: 'POST', headers: headersFor('searchSlot', { Authorization: badAud() }) });
    expect(post.status).toBe(405);
    // The registry search keeps its query checks after the token.
    expect((await call('GET', '/Appointment?bogus=1', 'searchAppointment', undefined, { Authorization: badAud() })).status).toBe(403);
    // A good query with a good token and a bad SSP header: 400 for the header.
    const header = await call('GET', `/Slot?service=999999999&start=ge${day(1)}`, 'searchSlot', undefined, { 'Ssp-TraceID': 'nope' });
    expect(header.status).toBe(400);
    expect((await outcome(header)).issue[0].details.coding[0].code).toBe('MISSING_OR_INVALID_HEADER');
  });

  it('the audit trail records the 400, with the token\u2019s provenance marked as not accepted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-query-'));
    try {
      const audit = new AuditLog(dir);
      const { call } = inProcessApp(undefined, { audit });
      const res = await call('GET', `/Slot?service=999999997&startXXXXXXX=ge${day(1)}`, 'searchSlot', undefined, { Authorization: badAud() });
      expect(res.status).toBe(400);
      await audit.close();
      const records: AuditRecord[] = [];
      for await (const r of queryAudit(dir)) records.push(r);
      expect(records).toMatchObject([{ interaction: 'search-slot', method: 'GET', status: 400, outcome: 'INVALID_PARAMETER', jwtAccepted: false, organisationOds: 'RYA' }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('while the facade stops (SIGTERM)', () => {
  it('answers a new request 503 at once, transient, with Retry-After and Connection: close, and queues no job', async () => {
    let draining = false;
    const { book, call, jobs } = inProcessApp(undefined, { draining: () => draining });
    expect((await book(booking())).status).toBe(422); // before: the job reached the (scripted) worker
    expect(jobs).toHaveLength(1);

    draining = true;
    for (const res of [await book(booking()), await call('GET', '/metadata', 'metadata')]) {
      expect(res.status).toBe(503);
      expect(res.headers.get('Retry-After')).toBe('1');
      expect(res.headers.get('Connection')).toBe('close');
      const oo = await outcome(res);
      expect(oo.issue[0].code).toBe('transient');
      expect(oo.issue[0].diagnostics).toMatch(/shutting down and did not process this request/);
    }
    expect(jobs).toHaveLength(1);
  });
});
