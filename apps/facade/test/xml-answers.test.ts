import { fromXml, toXml } from '@booking/fhir';
import { bundleReply, type WorkerReply } from '@booking/queue';
import { describe, expect, it } from 'vitest';
import { BASE, booking, headersFor, inProcessApp, resourceReply, stored } from './support.js';

/**
 * Whatever a booking holds, and whatever text the PAS has, an XML answer is well-formed FHIR XML
 * (or, if it cannot be written, the answer still comes, in JSON): a booking is never made and then
 * answered with an error.
 */

const XHTML = 'xmlns="http://www.w3.org/1999/xhtml"';

/** Well-formed XML, as the product's own strict reader (XML 1.0 characters included) sees it. */
function readBack(xml: string) {
  const read = fromXml(xml);
  if (!read.ok) throw new Error(read.problem.diagnostics);
  return read.value as Record<string, any>;
}

describe('narrative (text.div) is checked before the booking is made', () => {
  it.each([
    ['HTML that is not XML', `<div ${XHTML}>line1<br>line2</div>`],
    ['a script', `<div ${XHTML}><script>alert(1)</script></div>`],
  ])('a booking whose narrative holds %s is refused 422, in the format asked for, and no job runs', async (_, div) => {
    const { book, jobs } = inProcessApp((job: any) => resourceReply(stored(job.appointment), 201));
    const body = booking();
    body.text = { status: 'generated', div };
    const res = await book(JSON.stringify(body), { Accept: 'application/fhir+xml' });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+xml/);
    expect(readBack(await res.text()).issue[0].location).toEqual(['Appointment.text.div']);
    expect(jobs).toHaveLength(0);
  });

  it('a stored resource the XML writer cannot write is still answered (in JSON), never 500 after a booking', async () => {
    // A narrative stored before narratives were checked.
    const appointment: Record<string, any> = stored(booking());
    appointment.text = { status: 'generated', div: `<div ${XHTML}>line1<br>line2</div>` };
    const { book, call } = inProcessApp((job) => resourceReply(appointment, job.kind === 'book' ? 201 : 200));
    const booked = await book(JSON.stringify(booking()), { Accept: 'application/fhir+xml' });
    expect(booked.status).toBe(201);
    expect(booked.headers.get('location')).toContain(`/Appointment/${appointment.id}`);
    expect(booked.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(JSON.parse(await booked.text())).toEqual(appointment);
    const read = await call('GET', `/Appointment/${appointment.id}?_format=xml`, 'read');
    expect(read.status).toBe(200);
    expect(JSON.parse(await read.text()).id).toBe(appointment.id);
  });
});

describe('control characters', () => {
  it('a JSON booking whose strings hold control characters is refused 422 and no job runs', async () => {
    const { book, jobs } = inProcessApp((job: any) => resourceReply(stored(job.appointment), 201));
    const body = booking();
    body.contained[1].name[0].family = 'Blo\u0000ggs';
    const res = await book(JSON.stringify(body));
    expect(res.status).toBe(422);
    expect(JSON.parse(await res.text()).issue[0].location).toEqual(['Appointment.contained[1].name[0].family']);
    expect(jobs).toHaveLength(0);
  });

  it('an XML booking with a raw control character is refused 400 (not well-formed XML 1.0)', async () => {
    const { call, jobs } = inProcessApp((job: any) => resourceReply(stored(job.appointment), 201));
    const xml = toXml(booking()).replace('<description value="', '<description value="\u0001');
    const res = await call('POST', '/Appointment', 'book', xml, { 'Content-Type': 'application/fhir+xml' });
    expect(res.status).toBe(400);
    expect(JSON.parse(await res.text()).issue[0].details.coding[0].code).toBe('MESSAGE_NOT_WELL_FORMED');
    expect(jobs).toHaveLength(0);
  });

  it('a stored Appointment with a control character (stored before the check) is answered as well-formed XML', async () => {
    const appointment: Record<string, any> = stored(booking());
    appointment.description = 'Reason\u0001 for calling';
    const { call } = inProcessApp(() => resourceReply(appointment, 200));
    const res = await call('GET', `/Appointment/${appointment.id}?_format=xml`, 'read');
    expect(res.status).toBe(200);
    expect(readBack(await res.text()).description).toBe('Reason\uFFFD for calling');
  });

  it('a searchset with PAS text holding a vertical tab is well-formed XML', async () => {
    const bundle = { resourceType: 'Bundle', id: 'b1', type: 'searchset', total: 1, link: [{ relation: 'self', url: `${BASE}/Slot` }], entry: [{ fullUrl: `${BASE}/Location/L1`, resource: { resourceType: 'Location', id: 'L1', name: 'Ward 7\u000bNorth' } }] };
    const { app } = inProcessApp(() => bundleReply(bundle as never) as WorkerReply);
    const res = await app.request(`${BASE}/Slot?schedule.actor%3Ahealthcareservice=999999999&_format=xml`, { headers: headersFor('searchSlot') });
    expect(res.status).toBe(200);
    expect(readBack(await res.text()).entry[0].resource.name).toBe('Ward 7\uFFFDNorth');
  });
});

describe('FHIR XML structure', () => {
  it('a repeated single-valued element (two <gender>) is refused 422, not reduced to the last, and no job runs', async () => {
    const { call, jobs } = inProcessApp((job: any) => resourceReply(stored(job.appointment), 201));
    const xml = toXml(booking()).replace(/<gender value="([^"]*)"\/>/, '<gender value="$1"/><gender value="male"/>');
    const res = await call('POST', '/Appointment', 'book', xml, { 'Content-Type': 'application/fhir+xml' });
    expect(res.status).toBe(422);
    expect(JSON.parse(await res.text()).issue[0].location).toEqual(['Appointment.contained[1].gender']);
    expect(jobs).toHaveLength(0);
  });
});
