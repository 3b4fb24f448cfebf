import type { SlotSearch } from '@booking/fhir';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SLOT_COUNT, MAX_SLOT_COUNT, parseSlotSearch } from '../src/search-params.js';

const NOW = new Date('2019-05-01T12:00:00Z');
/** The facade's public base URL (FACADE_BASE_URL). */
const BASE = 'https://provider.example/STU3/1';

/** Parses a query string exactly as the route does (URLSearchParams decoding). */
function parse(query: string, now = NOW) {
  return parseSlotSearch(new URLSearchParams(query), now, BASE);
}

function ok(query: string): SlotSearch {
  const result = parse(query);
  if (!result.ok) throw new Error(`expected ok, got ${result.problem.diagnostics}`);
  return result.value;
}

function rejected(query: string) {
  const result = parse(query);
  if (result.ok) throw new Error(`expected a 400 for ${query}`);
  expect(result.problem).toMatchObject({ status: 400, code: 'invalid', spineCode: 'INVALID_PARAMETER' });
  return result.problem;
}

describe('parseSlotSearch', () => {
  it('parses the spec §8.5 sample, with the unencoded "+" that arrives as a space', () => {
    const search = ok(
      'schedule.actor:healthcareservice=918999198999&start=ge2019-05-09T10:00:00+00:00&start=le2019-05-09T10:30:00+00:00&status=free' +
        '&_include=Slot:schedule&_include:iterate=Schedule:actor:Practitioner&_include:iterate=Schedule:actor:PractitionerRole' +
        '&_include:iterate=Schedule:actor:HealthcareService&_include:iterate=HealthcareService:location&_format=json',
    );
    expect(search).toEqual({
      serviceId: '918999198999',
      statuses: ['free'],
      startFrom: { instant: '2019-05-09T10:00:00.000Z', inclusive: true },
      startTo: { instant: '2019-05-09T10:30:00.000Z', inclusive: true },
      count: DEFAULT_SLOT_COUNT,
      include: ['Schedule', 'Practitioner', 'PractitionerRole', 'HealthcareService', 'Location'],
    });
  });

  it('reads encoded names and offsets (%3A, %2B) and negative offsets', () => {
    const search = ok('schedule.actor%3Ahealthcareservice=1&start=ge2019-05-09T10%3A00%3A00%2B01%3A00&start=lt2019-05-09T10:00:00-05:00');
    expect(search.startFrom).toEqual({ instant: '2019-05-09T09:00:00.000Z', inclusive: true });
    expect(search.startTo).toEqual({ instant: '2019-05-09T15:00:00.000Z', inclusive: false });
  });

  it('accepts the service as service=, as schedule.actor:HealthcareService and as system|value', () => {
    expect(ok('service=999999999').serviceId).toBe('999999999');
    expect(ok('schedule.actor:HealthcareService=999999999').serviceId).toBe('999999999');
    expect(ok('service=https://fhir.nhs.uk/Id/dos-service-id|999999999').serviceId).toBe('999999999');
    expect(ok('service=|999999999&schedule.actor:healthcareservice=999999999').serviceId).toBe('999999999');
  });

  it('accepts schedule.actor:healthcareservice as a HealthcareService reference, relative or absolute, and no other type', () => {
    expect(ok('schedule.actor:healthcareservice=HealthcareService/999999993').serviceId).toBe('999999993');
    expect(ok('schedule.actor:HealthcareService=HealthcareService/999999993').serviceId).toBe('999999993');
    expect(ok('service=HealthcareService/999999993').serviceId).toBe('999999993');
    expect(ok(`schedule.actor:healthcareservice=${encodeURIComponent('https://provider.example/STU3/1/HealthcareService/999999993')}`).serviceId).toBe('999999993');
    // The same service given twice, once by reference and once by id, is one service.
    expect(ok('schedule.actor:healthcareservice=HealthcareService/999999993&service=999999993').serviceId).toBe('999999993');
    rejected('schedule.actor:healthcareservice=Location/999999993');
    rejected('schedule.actor:healthcareservice=https://provider.example/STU3/1/Location/999999993');
    rejected('schedule.actor:healthcareservice=HealthcareService/999999993/_history/1');
    rejected('schedule.actor:healthcareservice=HealthcareService/');
    rejected('schedule.actor:healthcareservice=ftp://x/HealthcareService/999999993');
  });

  it("takes an absolute HealthcareService reference only under the facade's own base URL: another server's service is not ours of the same id", () => {
    const service = (url: string) => `schedule.actor:healthcareservice=${encodeURIComponent(url)}`;
    // Host case and a default port do not make another URL.
    expect(ok(service('https://Provider.Example:443/STU3/1/HealthcareService/999999993')).serviceId).toBe('999999993');
    expect(ok(`service=${encodeURIComponent(`${BASE}/HealthcareService/999999993`)}`).serviceId).toBe('999999993');
    expect(rejected(service('https://other-provider.example/fhir/HealthcareService/999999993'))).toMatchObject({
      diagnostics: expect.stringContaining('another server'),
      location: ['schedule.actor:healthcareservice'],
    });
    rejected(service('https://other-provider.example/STU3/1/HealthcareService/999999993'));
    rejected(service('https://provider.example/STU3/2/HealthcareService/999999993'));
    rejected(service('https://provider.example/HealthcareService/999999993'));
    rejected(service('http://provider.example/STU3/1/HealthcareService/999999993'));
    rejected(service('https://provider.example:8443/STU3/1/HealthcareService/999999993'));
    rejected(`service=${encodeURIComponent('https://other-provider.example/fhir/HealthcareService/999999993')}`);
  });

  it('needs exactly one well-formed service', () => {
    expect(rejected('status=free').diagnostics).toMatch(/service is required/);
    rejected('service=1&schedule.actor:healthcareservice=2');
    rejected('service=');
    rejected('service=a%20b');
  });

  it('rejects an unknown parameter by name, and ignores _-prefixed controls', () => {
    const problem = rejected('service=999999997&startXXXXXXX=ge2019-05-09');
    expect(problem.diagnostics).toContain('startXXXXXXX');
    expect(problem.location).toEqual(['startXXXXXXX']);
    expect(ok('service=1&_revinclude=Appointment:slot&_revinclude:iterate=x&_format=xml&_summary=false').serviceId).toBe('1');
  });

  it('reads status as a comma OR list of every STU3 status, ANDs repeats, and defaults to all', () => {
    expect(ok('service=1').statuses).toEqual([]);
    expect(ok('service=1&status=free,busy').statuses).toEqual(['free', 'busy']);
    expect(ok('service=1&status=busy-unavailable,busy-tentative,entered-in-error').statuses).toEqual(['busy-unavailable', 'busy-tentative', 'entered-in-error']);
    expect(ok('service=1&status=http://hl7.org/fhir/slotstatus|free').statuses).toEqual(['free']);
    expect(ok('service=1&status=free,busy&status=busy').statuses).toEqual(['busy']);
    rejected('service=1&status=free&status=busy');
    rejected('service=1&status=open');
    rejected('service=1&status=');
  });

  it('maps every _include form, drops unknown ones and lists each type once', () => {
    const all = [
      '_include=Slot:schedule',
      '_include:recurse=Schedule:actor:Practitioner',
      '_include=Schedule:actor:PractitionerRole',
      '_include:iterate=Schedule:actor:HealthcareService',
      '_include=HealthcareService.providedBy',
      '_include=HealthcareService:providedBy',
      '_include=HealthcareService:Organization',
      '_include:iterate=HealthcareService.location',
      '_include=HealthcareService:Location',
      '_include=Schedule:actor:Device',
      '_include=*',
    ].join('&');
    expect(ok(`service=1&${all}`).include).toEqual(['Schedule', 'Practitioner', 'PractitionerRole', 'HealthcareService', 'Organization', 'Location']);
    expect(ok('service=1').include).toEqual([]);
  });

  it('honours _count up to a cap and rejects anything but a positive integer', () => {
    expect(ok('service=1&_count=5').count).toBe(5);
    expect(ok(`service=1&_count=${MAX_SLOT_COUNT + 1}`).count).toBe(MAX_SLOT_COUNT);
    for (const bad of ['0', '-1', '1.5', 'ten', '']) rejected(`service=1&_count=${bad}`);
  });

  describe('start', () => {
    it('reads date-only bounds as whole Europe/London days (BST here)', () => {
      const search = ok('service=1&start=ge2019-05-09&start=le2019-05-10');
      expect(search.startFrom).toEqual({ instant: '2019-05-08T23:00:00.000Z', inclusive: true });
      expect(search.startTo).toEqual({ instant: '2019-05-10T23:00:00.000Z', inclusive: false });
    });

    it('reads date-only bounds in GMT in winter and across the clock changes', () => {
      expect(ok('service=1&start=ge2019-12-09').startFrom?.instant).toBe('2019-12-09T00:00:00.000Z');
      // 2020-03-29 has 23 hours, 2019-10-27 has 25.
      expect(ok('service=1&start=2020-03-29')).toMatchObject({
        startFrom: { instant: '2020-03-29T00:00:00.000Z', inclusive: true },
        startTo: { instant: '2020-03-29T23:00:00.000Z', inclusive: false },
      });
      expect(ok('service=1&start=2019-10-27')).toMatchObject({
        startFrom: { instant: '2019-10-26T23:00:00.000Z', inclusive: true },
        startTo: { instant: '2019-10-28T00:00:00.000Z', inclusive: false },
      });
    });

    it('gives gt/lt on dates whole-day meaning and no prefix eq on the day', () => {
      expect(ok('service=1&start=gt2019-12-09').startFrom).toEqual({ instant: '2019-12-10T00:00:00.000Z', inclusive: true });
      expect(ok('service=1&start=lt2019-12-09').startTo).toEqual({ instant: '2019-12-09T00:00:00.000Z', inclusive: false });
      expect(ok('service=1&start=eq2019-12-09')).toMatchObject({
        startFrom: { instant: '2019-12-09T00:00:00.000Z', inclusive: true },
        startTo: { instant: '2019-12-10T00:00:00.000Z', inclusive: false },
      });
    });

    it('gives dateTime prefixes instant meaning; Z, offsets and fractions', () => {
      expect(ok('service=1&start=gt2019-05-09T10:00:00Z').startFrom).toEqual({ instant: '2019-05-09T10:00:00.000Z', inclusive: false });
      expect(ok('service=1&start=le2019-05-09T10:00:00.250Z').startTo).toEqual({ instant: '2019-05-09T10:00:00.250Z', inclusive: true });
      expect(ok('service=1&start=2019-05-09T10:00Z')).toMatchObject({ startFrom: { instant: '2019-05-09T10:00:00.000Z' }, startTo: { instant: '2019-05-09T10:00:00.000Z' } });
    });

    it('refuses a time without an offset (400): the Booking Standard requires offsets', () => {
      const problem = rejected('service=1&start=ge2019-05-09T10:00:00');
      expect(problem).toMatchObject({ status: 400, location: ['start'] });
      expect(problem.diagnostics).toMatch(/offset/);
    });

    it('answers 400 INVALID_PARAMETER for a lower bound later than the upper bound (§8.4: invalid parameters are 400)', () => {
      const result = parseSlotSearch(new URLSearchParams('service=1&start=ge2019-05-10T10:00:00Z&start=le2019-05-09T10:00:00Z'), NOW, BASE);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.problem).toMatchObject({ status: 400, spineCode: 'INVALID_PARAMETER', location: ['start'] });
      // Equal bounds are a one-instant window, not an empty one.
      ok('service=1&start=ge2019-05-09T10:00:00Z&start=le2019-05-09T10:00:00Z');
    });

    it('drops bounds beyond what a PAS datetime holds (1753–9999), which exclude no slot, instead of sending them to the PAS', () => {
      // le9999-12-31 ends at year 10000, which SQL Server's DATETIME cannot hold and SQLite's text order puts before 2026.
      const far = ok('service=1&start=ge2019-05-09&start=le9999-12-31');
      expect(far.startFrom?.instant).toBe('2019-05-08T23:00:00.000Z');
      expect(far.startTo).toBeUndefined();
      expect(ok('service=1&start=ge1700-01-01').startFrom).toBeUndefined();
      expect(ok('service=1&start=gt1752-12-31T23:59:59Z').startFrom).toBeUndefined();
      // 1753-01-01T00:00Z is 1752-12-31 23:58:45 on London's clock then, out of DATETIME's range: a day's margin.
      expect(ok('service=1&start=ge1753-01-01T00:00:00Z').startFrom).toBeUndefined();
      expect(ok('service=1&start=ge1753-01-02T00:00:00Z').startFrom).toEqual({ instant: '1753-01-02T00:00:00.000Z', inclusive: true });
      // A lower bound past the end of year 9999: no PAS can hold such a slot.
      expect(rejected('service=1&start=gt9999-12-31')).toMatchObject({ status: 400, spineCode: 'INVALID_PARAMETER', location: ['start'] });
    });

    it('keeps the tighter of two bounds on one side', () => {
      const search = ok('service=1&start=ge2019-05-09T10:00:00Z&start=gt2019-05-09T10:00:00Z');
      expect(search.startFrom).toEqual({ instant: '2019-05-09T10:00:00.000Z', inclusive: false });
      expect(search.startTo).toBeUndefined();
    });

    it('rejects malformed values and more than two', () => {
      for (const bad of ['tomorrow', 'ge2019-13-01', 'ge2019-02-30', 'ge2019-05-09T25:00:00Z', 'ge2019-05-09T10:00:00+15:00', 'ne2019-05-09', 'ge2019-05', 'ge2019-05-09T10:00:00 0000', '']) {
        expect(rejected(`service=1&start=${encodeURIComponent(bad)}`).location).toEqual(['start']);
      }
      rejected('service=1&start=ge2019-05-09&start=le2019-05-10&start=le2019-05-11');
    });

    it('rejects a window that lies wholly in the past, but not one that only starts there', () => {
      expect(rejected('service=1&start=ge2019-04-01&start=le2019-04-30').diagnostics).toMatch(/past/);
      rejected('service=1&start=lt2019-05-01T11:59:59Z');
      // le today reaches the end of today (local), which is still ahead.
      expect(ok('service=1&start=ge2019-04-01&start=le2019-05-01').startTo?.instant).toBe('2019-05-01T23:00:00.000Z');
      expect(ok('service=1&start=ge2019-04-01').startFrom?.instant).toBe('2019-03-31T23:00:00.000Z');
    });
  });
});
