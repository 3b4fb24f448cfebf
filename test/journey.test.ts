import { randomUUID } from 'node:crypto';
import { fromXml, toXml } from '@booking/fhir';
import { Client, type FhirResource } from 'fhir-kit-client';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bookingBody, consumerHeaders, type InteractionName } from './support/consumer.js';
import { Stack } from './support/stack.js';

/**
 * The whole consumer journey, as a national consumer would run it: capability statement, slot
 * search with every include, book the first free slot, read it, vread version 1, cancel it with its
 * ETag, and see the slot free again in a new search — through fhir-kit-client in JSON, and in XML.
 */

type Json = Record<string, any>;
let stack: Stack;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 2 });
});
afterAll(async () => stack?.stop());

const INCLUDES = {
  _include: 'Slot:schedule',
  '_include:iterate': ['Schedule:actor:Practitioner', 'Schedule:actor:PractitionerRole', 'Schedule:actor:HealthcareService', 'HealthcareService:providedBy', 'HealthcareService:location'],
};

/** The harness's window: tomorrow 00:00 to +4 days 00:00, Europe/London, with offsets. */
function window() {
  const tomorrow = DateTime.now().setZone('Europe/London').startOf('day').plus({ days: 1 });
  return [`ge${tomorrow.toISO({ suppressMilliseconds: true })}`, `le${tomorrow.plus({ days: 4 }).toISO({ suppressMilliseconds: true })}`];
}

function slotForBooking(bundle: Json) {
  const slot = bundle.entry.find((e: Json) => e.resource.resourceType === 'Slot').resource;
  return { id: slot.id, identifier: slot.identifier[0].value, schedule: slot.schedule.reference, start: slot.start, end: slot.end };
}

const slotIds = (bundle: Json) => bundle.entry?.filter((e: Json) => e.resource.resourceType === 'Slot').map((e: Json) => e.resource.id) ?? [];

describe('the consumer journey', () => {
  it('runs through fhir-kit-client in JSON', async () => {
    const client = new Client({ baseUrl: stack.baseUrl });
    const headers = (interaction: InteractionName, extra: Record<string, string> = {}) => ({ headers: consumerHeaders(stack.baseUrl, interaction, extra) });
    const http = (resource: unknown) => Client.httpFor(resource as FhirResource).response as Response;

    const capability = (await client.capabilityStatement(headers('metadata'))) as Json;
    expect(capability.resourceType).toBe('CapabilityStatement');

    const search = () =>
      client.search({ resourceType: 'Slot', searchParams: { 'schedule.actor:healthcareservice': '999999999', status: 'free', start: window(), ...INCLUDES }, options: headers('searchSlot') }) as Promise<Json>;
    const found = await search();
    expect(found.total).toBeGreaterThan(0);
    expect(new Set(found.entry.map((e: Json) => e.resource.resourceType))).toEqual(new Set(['Slot', 'Schedule', 'Practitioner', 'PractitionerRole', 'HealthcareService', 'Organization', 'Location']));
    const slot = slotForBooking(found);

    const booked = (await client.create({ resourceType: 'Appointment', body: bookingBody(slot) as never, options: headers('book') })) as Json;
    expect(http(booked).status).toBe(201);
    const etag = http(booked).headers.get('etag') as string;
    expect(etag).toBe('W/"1"');
    expect(slotIds(await search())).not.toContain(slot.id);

    const read = (await client.read({ resourceType: 'Appointment', id: booked.id, options: headers('read') })) as Json;
    expect(read).toEqual(booked);
    const v1 = (await client.vread({ resourceType: 'Appointment', id: booked.id, version: '1', options: headers('read') })) as Json;
    expect(v1).toEqual(booked);

    const cancelled = (await client.update({ resourceType: 'Appointment', id: booked.id, body: { ...read, status: 'cancelled' } as never, options: headers('cancel', { 'If-Match': etag }) })) as Json;
    expect(http(cancelled).status).toBe(200);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.meta.versionId).toBe('2');

    expect(slotIds(await search())).toContain(slot.id);
  });

  it('runs in XML', async () => {
    const XML = 'application/fhir+xml';
    const call = async (method: string, path: string, interaction: InteractionName, body?: object, extra: Record<string, string> = {}) => {
      const res = await fetch(`${stack.baseUrl}${path}`, {
        method,
        headers: consumerHeaders(stack.baseUrl, interaction, { Accept: XML, ...(body ? { 'Content-Type': XML } : {}), ...extra }),
        ...(body ? { body: toXml(body) } : {}),
      });
      const text = await res.text();
      expect(res.headers.get('content-type')).toBe(`${XML};charset=utf-8`);
      const parsed = fromXml(text);
      if (!parsed.ok) throw new Error(parsed.problem.diagnostics);
      return { res, json: parsed.value as Json };
    };
    const query = new URLSearchParams({ 'schedule.actor:healthcareservice': '999999999', status: 'free', _include: INCLUDES._include });
    for (const s of window()) query.append('start', s);
    for (const i of INCLUDES['_include:iterate']) query.append('_include:iterate', i);
    const search = () => call('GET', `/Slot?${query}`, 'searchSlot');

    expect((await call('GET', '/metadata', 'metadata')).json.resourceType).toBe('CapabilityStatement');
    const found = await search();
    expect(found.json.total).toBeGreaterThan(0);
    const slot = slotForBooking(found.json);

    const booked = await call('POST', '/Appointment', 'book', bookingBody(slot));
    expect(booked.res.status).toBe(201);
    const etag = booked.res.headers.get('etag') as string;
    const id = booked.json.id as string;
    expect(slotIds((await search()).json)).not.toContain(slot.id);

    const read = await call('GET', `/Appointment/${id}`, 'read');
    expect(read.json).toEqual(booked.json);
    expect((await call('GET', `/Appointment/${id}/_history/1`, 'read')).json).toEqual(booked.json);

    const cancelled = await call('PUT', `/Appointment/${id}`, 'cancel', { ...read.json, status: 'cancelled' }, { 'If-Match': etag, 'X-Request-ID': randomUUID() });
    expect(cancelled.res.status).toBe(200);
    expect(cancelled.json.status).toBe('cancelled');
    expect(slotIds((await search()).json)).toContain(slot.id);
  });
});
