import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalClock } from '@booking/pas';
import { consumerHeaders, makeJwt, SCOPES } from './support/consumer.js';
import { directoryOrganization, expectHarnessRules as harnessRules, idsOf, type Json, orgsReturned, profile, resources } from './support/slot-bundle.js';
import { Stack } from './support/stack.js';

/** GET /Slot end to end: facade → queue → worker → SQLite PAS, checked as the assurance harness does (spec §8). */

const SERVICE = '999999999';
const ALL_INCLUDES = [
  '_include=Slot:schedule',
  '_include:iterate=Schedule:actor:Practitioner',
  '_include:iterate=Schedule:actor:PractitionerRole',
  '_include:iterate=Schedule:actor:HealthcareService',
  '_include:iterate=HealthcareService:location',
  '_include=HealthcareService:providedBy',
].join('&');

let stack: Stack;
const clock = new LocalClock('Europe/London');
/** YYYY-MM-DD of today + n days in Europe/London. */
const localDate = (n: number) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/London' }).format(Date.now() + n * 86_400_000);
/** Local midnight of today + n days as an instant written with an explicit +00:00 offset, as the harness does. */
const midnight = (n: number) => clock.toInstant(`${localDate(n)} 00:00:00`).replace('.000Z', '+00:00');
// The harness window: tomorrow 00:00 → +4 days 00:00, Europe/London (§18).
const [GE, LE] = [midnight(1), midnight(4)];

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1 });
});
afterAll(async () => {
  await stack?.stop();
});

async function search(query: string, init: { method?: string; headers?: Record<string, string | undefined> } = {}) {
  const res = await fetch(`${stack.baseUrl}/Slot?${query}`, { method: init.method ?? 'GET', headers: consumerHeaders(stack.baseUrl, 'searchSlot', init.headers) });
  const text = await res.text();
  return { res, json: (text ? JSON.parse(text) : undefined) as Json };
}

async function bundleFor(query: string): Promise<Json> {
  const { res, json } = await search(query);
  expect(res.status, JSON.stringify(json)).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/fhir+json;charset=utf-8');
  expect(res.headers.get('etag')).toBeNull();
  return json;
}

/** The §8.3 harness checks (support/slot-bundle.ts), against this stack's base URL. */
const expectHarnessRules = (bundle: Json, window: { ge?: string; le?: string; statuses?: string[] }) => harnessRules(bundle, { baseUrl: stack.baseUrl, ...window });

function expectOperationOutcome(json: Json, status: number, res: Response, code: string) {
  expect(res.status).toBe(status);
  expect(json.resourceType).toBe('OperationOutcome');
  expect(json.issue[0].details.coding[0].code).toBe(code);
}

describe('GET /Slot', () => {
  it('answers the spec §8.5 request with every include, the unencoded "+" arriving as a space', async () => {
    const query = `schedule.actor:healthcareservice=${SERVICE}&start=ge${GE}&start=le${LE}&status=free&${ALL_INCLUDES}&_format=json`;
    const bundle = await bundleFor(query);
    expectHarnessRules(bundle, { ge: GE, le: LE, statuses: ['free'] });
    // The harness window holds three whole days of the demo PAS's free slots (40 a day from tomorrow).
    expect(bundle.total).toBe(120);
    expect(bundle.link[0].url).toBe(`${stack.baseUrl}/Slot?${query}`);

    const counts = Object.fromEntries(['Slot', 'Schedule', 'Practitioner', 'PractitionerRole', 'HealthcareService', 'Organization', 'Location'].map((t) => [t, resources(bundle, t).length]));
    expect(counts).toEqual({ Slot: 120, Schedule: 1, Practitioner: 1, PractitionerRole: 1, HealthcareService: 1, Organization: 1, Location: 1 });
    expect(bundle.entry.map((e: Json) => e.search.mode)).toEqual([...Array(120).fill('match'), ...Array(6).fill('include')]);

    const [schedule, practitioner, role, service, organization, location] = ['Schedule', 'Practitioner', 'PractitionerRole', 'HealthcareService', 'Organization', 'Location'].map(
      (t) => resources(bundle, t)[0] as Json,
    ) as [Json, Json, Json, Json, Json, Json];
    expect(service.id).toBe(SERVICE);
    // The demo schedule has all four actors: Location makes way (max 3) and stays on the service.
    expect(schedule.actor).toEqual([{ reference: `HealthcareService/${SERVICE}` }, { reference: `Practitioner/${practitioner.id}` }, { reference: `PractitionerRole/${role.id}` }]);
    expect(service).toMatchObject({ providedBy: { reference: directoryOrganization(organization.id) }, location: [{ reference: `Location/${location.id}` }], name: expect.any(String) });
    // The harness's SFFSOrgsReturned: the Organization found from character 58 of providedBy, one per Schedule.
    expect(orgsReturned(bundle)).toEqual({ found: 1, schedules: 1 });
    expect(practitioner).toMatchObject({ meta: { profile: profile('Practitioner') }, name: [{ family: expect.any(String) }] });
    expect(practitioner.identifier.map((i: Json) => i.system)).toEqual(['https://fhir.nhs.uk/Id/sds-user-id', 'https://fhir.nhs.uk/Id/sds-role-profile-id']);
    expect(role).toMatchObject({
      meta: { profile: profile('PractitionerRole') },
      practitioner: { reference: `Practitioner/${practitioner.id}` },
      organization: { reference: directoryOrganization(organization.id) },
      code: [{ coding: [{ system: 'https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-SDSJobRoleName-1', code: 'R0260', display: 'General Medical Practitioner' }] }],
    });
    expect(organization).toMatchObject({
      meta: { profile: profile('Organization') },
      identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: organization.id }],
      type: [{ coding: [{ system: 'http://hl7.org/fhir/organization-type', code: 'prov' }] }],
      telecom: [{ system: 'phone' }],
      address: [{ city: 'Leeds' }],
    });
    expect(location).toMatchObject({
      meta: { profile: profile('Location') },
      identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-site-code', value: location.id }],
      managingOrganization: { reference: directoryOrganization(organization.id) },
      telecom: [{ system: 'phone' }],
    });
  });

  it('gives the same slots for %2B-encoded offsets and for service=system|value', async () => {
    const plain = await bundleFor(`schedule.actor:healthcareservice=${SERVICE}&start=ge${GE}&start=le${LE}&status=free`);
    const encoded = await bundleFor(
      `schedule.actor%3Ahealthcareservice=${SERVICE}&start=${encodeURIComponent(`ge${GE}`)}&start=${encodeURIComponent(`le${LE}`)}&status=free`,
    );
    const token = await bundleFor(`service=${encodeURIComponent(`https://fhir.nhs.uk/Id/dos-service-id|${SERVICE}`)}&start=ge${GE}&start=le${LE}&status=free`);
    const byService = await bundleFor(`service=${SERVICE}&start=ge${GE}&start=le${LE}&status=free`);
    for (const b of [encoded, token, byService]) expect(idsOf(b, 'Slot')).toEqual(idsOf(plain, 'Slot'));
    expect(resources(plain).every((r) => r.resourceType === 'Slot')).toBe(true);
  });

  it('maps the PAS delivery channel only where the PAS recorded one', async () => {
    const bundle = await bundleFor(`service=${SERVICE}&start=ge${GE}&_count=30`);
    const db = stack.openPas();
    const codes = new Map((db.prepare('SELECT SLOT_ID, CONTACT_TYPE FROM CLINIC_SLOT').all() as { SLOT_ID: number; CONTACT_TYPE: string | null }[]).map((r) => [String(r.SLOT_ID), r.CONTACT_TYPE]));
    db.close();
    const channel = { F: 'In-person', T: 'Telephone', V: 'Video' } as Record<string, string>;
    const url = 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-DeliveryChannel-1';
    const slots = resources(bundle, 'Slot');
    expect(slots.some((s) => !s.extension)).toBe(true);
    for (const s of slots) {
      const code = codes.get(s.id);
      expect(s.extension).toEqual(code ? [{ url, valueCode: channel[code] }] : undefined);
    }
  });

  it('reads date-only bounds as whole Europe/London days', async () => {
    // le a date reaches the end of that day: days 1 to 4 hold all 160 demo slots.
    const days = await bundleFor(`service=${SERVICE}&start=ge${localDate(1)}&start=le${localDate(4)}`);
    expect(days.total).toBe(160);
    const oneDay = await bundleFor(`service=${SERVICE}&start=${localDate(2)}`);
    expect(oneDay.total).toBe(40);
    expectHarnessRules(oneDay, { ge: midnight(2), le: midnight(3) });
  });

  it('searches any status and comma lists as OR (999999993 has busy and tentative slots)', async () => {
    const busy = await bundleFor('schedule.actor:healthcareservice=999999993&status=busy');
    expect(busy.total).toBeGreaterThan(0);
    expectHarnessRules(busy, { statuses: ['busy'] });

    const freeOrBusy = await bundleFor(`schedule.actor:healthcareservice=999999993&status=free,busy&${ALL_INCLUDES}`);
    expectHarnessRules(freeOrBusy, { statuses: ['free', 'busy'] });
    expect(new Set(resources(freeOrBusy, 'Slot').map((s) => s.status))).toEqual(new Set(['free', 'busy']));

    const tentative = await bundleFor('schedule.actor:healthcareservice=999999993&status=busy-tentative');
    expect(tentative.total).toBeGreaterThan(0);
    expectHarnessRules(tentative, { statuses: ['busy-tentative'] });

    const all = await bundleFor('schedule.actor:healthcareservice=999999993');
    expect(all.total).toBe(40);
    expect((await bundleFor('schedule.actor:healthcareservice=999999993&status=entered-in-error')).total).toBe(0);
  });

  it('honours _count, ignores _revinclude and unknown includes', async () => {
    const five = await bundleFor(`service=${SERVICE}&_count=5&${ALL_INCLUDES}`);
    expect(five.total).toBe(5);
    expectHarnessRules(five, {});

    const revincludes = ['Appointment:slot', 'Appointment:patient', 'Slot:schedule', 'Schedule:actor', 'PractitionerRole:practitioner', 'HealthcareService:location'];
    const query = `service=${SERVICE}&start=ge${GE}&start=le${LE}&status=free&${revincludes.map((r) => `_revinclude=${r}`).join('&')}&_include=Schedule:actor:Device`;
    const bundle = await bundleFor(query);
    expect(bundle.total).toBe(120);
    expect(resources(bundle).every((r) => r.resourceType === 'Slot')).toBe(true);
  });

  it('follows includes from included resources only', async () => {
    // Organization and Location come through HealthcareService, which comes through Schedule.
    const noSchedule = await bundleFor(`service=${SERVICE}&_count=3&_include=Schedule:actor:HealthcareService&_include=HealthcareService:providedBy`);
    expect(resources(noSchedule).every((r) => r.resourceType === 'Slot')).toBe(true);
    const noService = await bundleFor(`service=${SERVICE}&_count=3&_include=Slot:schedule&_include=HealthcareService:providedBy`);
    expect(new Set(resources(noService).map((r) => r.resourceType))).toEqual(new Set(['Slot', 'Schedule']));
  });

  it('answers 200 with an empty bundle for a known service without slots', async () => {
    const query = `schedule.actor:healthcareservice=999999998&start=ge${GE}&start=le${LE}&status=free&${ALL_INCLUDES}`;
    const bundle = await bundleFor(query);
    expect(bundle.total).toBe(0);
    expect(bundle.entry).toBeUndefined();
    expect(bundle.link).toEqual([{ relation: 'self', url: `${stack.baseUrl}/Slot?${query}` }]);
  });

  it('answers 404 NO_RECORD_FOUND for a service the provider does not know', async () => {
    const { res, json } = await search(`schedule.actor:healthcareservice=123456789&start=ge${GE}&start=le${LE}&status=free`);
    expectOperationOutcome(json, 404, res, 'NO_RECORD_FOUND');
  });

  it.each([
    ['no service', `start=ge${GE}&status=free`],
    ['an unknown parameter (harness 999999997)', `schedule.actor:healthcareservice=999999997&startXXXXXXX=ge${GE}&status=free`],
    ['a window wholly in the past', `service=${SERVICE}&start=ge${localDate(-10)}&start=le${localDate(-3)}`],
    ['a malformed start', `service=${SERVICE}&start=ge2019-02-30`],
    ['an unprefixed garbage start', `service=${SERVICE}&start=tomorrow`],
    ['an unknown status', `service=${SERVICE}&status=open`],
    ['a _count that is not a positive integer', `service=${SERVICE}&_count=0`],
  ])('answers 400 INVALID_PARAMETER for %s', async (_name, query) => {
    const { res, json } = await search(query);
    expectOperationOutcome(json, 400, res, 'INVALID_PARAMETER');
    if (query.includes('startXXXXXXX')) expect(json.issue[0].diagnostics).toContain('startXXXXXXX');
  });

  it('answers 403 for the booking scope and 405 for POST', async () => {
    const wrongScope = await search(`service=999999996&status=free`, { headers: { Authorization: `Bearer ${makeJwt(stack.baseUrl, SCOPES.book)}` } });
    expectOperationOutcome(wrongScope.json, 403, wrongScope.res, 'ACCESS DENIED');
    const post = await search(`service=999999994&status=free`, { method: 'POST' });
    expect(post.res.status).toBe(405);
    expect(post.json.resourceType).toBe('OperationOutcome');
  });
});
