import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sampleBooking } from './booking-sample.js';
import { BOOKING_RULES, checkBookingRequest, resourceFindings, validateResource } from '../src/index.js';
import { MAX_ELEMENTS } from '../src/validation/base.js';

/** The two validation layers of a booking body, in process. */

const booking = sampleBooking;

const problemOf = (body: unknown) => {
  const checked = checkBookingRequest(body);
  if (checked.ok) throw new Error('expected a problem');
  return checked.problem;
};

describe('the Booking Standard rule table', () => {
  it('lists its 400s before its 422s, so the harness order is the table order', () => {
    const statuses = BOOKING_RULES.map((r) => r.status);
    expect(statuses).toEqual([...statuses].sort());
    expect(BOOKING_RULES.map((r) => r.rule)).toContain('valid to the FHIR STU3 base definitions and the CareConnect profiles');
  });

  it('answers with each rule\u2019s own status, and the first broken rule wins', () => {
    const breakers: [string, (b: Record<string, any>) => void][] = [
      ['the body is an Appointment', (b) => (b.resourceType = 'Patient')],
      ['fs_patientcontact: every contact point ranked, rank 1 exactly once', (b) => (b.contained[1].telecom[0].rank = 2)],
      ['valid to the FHIR STU3 base definitions and the CareConnect profiles', (b) => (b.priority = 'urgent')],
      ['no id: the provider assigns it', (b) => (b.id = 'mine')],
      ['status booked, start before end (instants), a description', (b) => (b.end = b.start)],
      ['slot references the contained Slot', (b) => (b.slot = [{ reference: '#P1' }])],
      ['exactly one participant is the contained Patient; its NHS number is valid', (b) => (b.participant[0].actor.identifier.value = '1234567890')],
      ['the contained Patient (§9.1)', (b) => (b.contained[1].birthDate = '1970')],
      ['the participant\u2019s NHS number, when both are sent, is the contained Patient\u2019s', (b) => (b.participant[0].actor.identifier.value = '9000000009')],
    ];
    for (const [rule, spoil] of breakers) {
      const body = booking();
      spoil(body);
      const declared = BOOKING_RULES.find((r) => r.rule === rule);
      expect(declared, rule).toBeDefined();
      expect(problemOf(body).status, rule).toBe(declared?.status);
    }
    // Broken twice: contact ranks (400) and a code outside its value set (422) → the earlier rule, 400.
    const both = booking();
    both.contained[1].telecom[0].rank = 2;
    both.priority = 'urgent';
    expect(problemOf(both)).toMatchObject({ status: 400, spineCode: 'BAD_REQUEST' });
  });

  it('skips only the FHIR layer for a body that already passed it (the worker, after the facade)', () => {
    const body = booking();
    body.priority = 'urgent';
    expect(checkBookingRequest(body, { fhirValidated: true }).ok).toBe(true);
    body.id = 'mine';
    expect(checkBookingRequest(body, { fhirValidated: true })).toMatchObject({ ok: false, problem: { status: 422, location: ['Appointment.id'] } });
  });

  it('accepts a booking without supportingInformation and DocumentReference, and returns what the PAS needs', () => {
    const body = booking();
    delete body.supportingInformation;
    body.contained = body.contained.filter((r: any) => r.resourceType !== 'DocumentReference');
    const checked = checkBookingRequest(body);
    expect(checked).toMatchObject({ ok: true, value: { slotId: '1001', slotGuid: 'f3a0c1de-0000-4000-8000-000000001001', patient: { family: 'Bloggs', nhsNumber: '9658218873' } } });
  });

  it('refuses a birth date the PAS cannot record (before 1753-01-01: SQL Server DATETIME) or in the future, naming the element', () => {
    const tomorrowAnywhere = new Date(Date.now() + 38 * 3600_000).toISOString().slice(0, 10);
    for (const birthDate of ['0197-05-12', '1752-12-31', tomorrowAnywhere, '2999-01-01']) {
      const body = booking();
      body.contained[1].birthDate = birthDate;
      // The facade's check and the worker's (fhirValidated) alike: no job reaches the PAS.
      for (const checked of [checkBookingRequest(body), checkBookingRequest(body, { fhirValidated: true })]) {
        expect(checked, birthDate).toMatchObject({ ok: false, problem: { status: 422, spineCode: 'INVALID_RESOURCE', location: ['Appointment.contained.Patient.birthDate'] } });
      }
    }
    for (const birthDate of ['1753-01-01', '1900-02-28', new Date().toISOString().slice(0, 10)]) {
      const body = booking();
      body.contained[1].birthDate = birthDate;
      expect(checkBookingRequest(body).ok, birthDate).toBe(true);
    }
  });

  it('refuses a participant NHS number that contradicts the contained Patient\u2019s (the PAS would file one, reads show the other)', () => {
    const body = booking();
    body.participant[0].actor.identifier.value = '9000000009'; // a valid NHS number, not the Patient's 9658218873
    expect(problemOf(body)).toMatchObject({
      status: 422,
      spineCode: 'INVALID_RESOURCE',
      diagnostics: 'Appointment.participant[0].actor.identifier.value is not the NHS number of the contained Patient (Appointment.contained[1].identifier[0].value): both must be the same patient\'s',
      location: ['Appointment.participant[0].actor.identifier.value', 'Appointment.contained[1].identifier[0].value'],
    });
    // Either alone is fine: the harness re-sends the participant's number for a Patient without one (§19 #12).
    const patientWithout = booking();
    patientWithout.participant[0].actor.identifier.value = '9000000009';
    delete patientWithout.contained[1].identifier;
    expect(checkBookingRequest(patientWithout).ok).toBe(true);
    const participantWithout = booking();
    delete participantWithout.participant[0].actor.identifier;
    expect(checkBookingRequest(participantWithout).ok).toBe(true);
    expect(checkBookingRequest(booking()).ok).toBe(true);
  });

  it('refuses supportingInformation that points at anything but the contained DocumentReference', () => {
    const body = booking();
    body.supportingInformation = [{ reference: '#P1' }];
    // The DocumentReference now unreferenced breaks dom-3 first (base definitions); without it, the Booking rule answers.
    expect(problemOf(body).diagnostics).toMatch(/dom-3/);
    body.contained = body.contained.filter((r: any) => r.resourceType !== 'DocumentReference');
    expect(problemOf(body)).toMatchObject({ status: 422, location: ['Appointment.supportingInformation[0]'] });
  });
});

describe('structure and profile validation', () => {
  it('a valid booking has no findings', () => {
    expect(resourceFindings(booking())).toEqual([]);
  });

  it.each([
    ['a string where a number belongs', (b: Record<string, any>) => (b.minutesDuration = '5'), 'Appointment.minutesDuration'],
    ['an instant without a time zone', (b: Record<string, any>) => (b.start = '2030-03-02T10:00:00'), 'Appointment.start'],
    ['a date that does not exist', (b: Record<string, any>) => (b.contained[1].birthDate = '1970-02-30'), 'Appointment.contained[1].birthDate'],
    ['an array where one value belongs', (b: Record<string, any>) => (b.description = ['a']), 'Appointment.description'],
    ['one value where an array belongs', (b: Record<string, any>) => (b.slot = { reference: '#1001' }), 'Appointment.slot'],
    ['an empty object', (b: Record<string, any>) => (b.contained[1].address[0] = {}), 'Appointment.contained[1].address[0]'],
    ['a null', (b: Record<string, any>) => (b.comment = null), 'Appointment.comment'],
    ['an extension with both a value and extensions (ext-1)', (b: Record<string, any>) => (b.extension = [{ url: 'x', valueString: 'a', extension: [{ url: 'y', valueCode: 'b' }] }]), 'Appointment.extension[0]'],
    ['start after end (per-1 on a Period)', (b: Record<string, any>) => (b.requestedPeriod = [{ start: '2030-01-02', end: '2030-01-01' }]), 'Appointment.requestedPeriod[0]'],
    ['an unknown resource type in contained', (b: Record<string, any>) => (b.contained[0].resourceType = 'Nope'), 'Appointment.contained[0].resourceType'],
    ['a Patient.animal (CareConnect-Patient-1 max 0)', (b: Record<string, any>) => (b.contained[1].animal = { species: { text: 'dog' } }), 'Appointment.contained[1].animal'],
    ['a second Slot identifier (CareConnect-Slot-1 max 1)', (b: Record<string, any>) => b.contained[2].identifier.push({ value: 'x' }), 'Appointment.contained[2].identifier'],
  ])('names the element for %s', (_, spoil, expression) => {
    const body = booking();
    spoil(body);
    const problem = validateResource(body);
    expect(problem).toMatchObject({ status: 422, code: 'invalid', spineCode: 'INVALID_RESOURCE' });
    expect(problem?.location).toContain(expression);
  });

  it('bounds the work: past MAX_ELEMENTS elements or 50 findings it stops and says so', () => {
    const many = booking();
    many.extension = Array.from({ length: 20_000 }, (_, i) => ({ url: 'https://example.org/x', valueString: `v${i}` }));
    expect(validateResource(many)?.diagnostics).toMatch(new RegExp(`more than ${MAX_ELEMENTS} elements`));
    const bad = booking();
    bad.extension = Array.from({ length: 20_000 }, () => ({ url: 'https://example.org/x' }));
    expect(resourceFindings(bad)).toHaveLength(50);
  });

  it('checks profiles only once the base structure is sound (no findings about elements it cannot read)', () => {
    const body = booking();
    body.minutesDuration = '5';
    delete body.contained[2].identifier;
    expect(resourceFindings(body).map((f) => f.expression)).toEqual(['Appointment.minutesDuration']);
  });
});

describe('unknown elements are ignored (spec §4: "SHALL ignore unknown elements/extensions", acceptUnknown both)', () => {
  /** Elements STU3 does not define at that path: an R4 element, a vendor's, one in a datatype, a resourceType inside an element. */
  const withUnknowns = (body = booking()) => {
    body.patientInstruction = 'Bring your medication';
    body.contained[1].nhsNumberTraceDate = '2030-01-01';
    body.contained[1].name[0].colour = { any: ['shape'] };
    body.participant[0].actor.type = 'Patient';
    body.meta.resourceType = { toString: 1 };
    body._status = { id: 's' }; // a known element's extension: kept
    return body;
  };

  it('drops them before the profile and Booking Standard rules, so they are neither judged nor stored nor echoed', () => {
    const expected = booking();
    const body = withUnknowns(structuredClone(expected));
    expect(validateResource(body)).toBeUndefined();
    expected._status = { id: 's' };
    expect(body).toEqual(expected);
    const checked = checkBookingRequest(withUnknowns());
    expect(checked.ok).toBe(true);
  });

  it('still refuses what is malformed in known elements (an element left empty by the drop goes: see below)', () => {
    const body = withUnknowns();
    body.contained[1].gender = { colour: 'blue' };
    body.contained[1].address[0].period = 'blue';
    expect(validateResource(body)?.location).toEqual(['Appointment.contained[1].gender', 'Appointment.contained[1].address[0].period']);
  });
});

describe('an element that held only unknown content is ignored with it, not refused as empty (spec §4)', () => {
  it('a contained Slot whose meta holds only R4 meta.source: meta goes, the booking is valid', () => {
    const body = booking();
    body.contained[2].meta = { source: 'urn:uuid:0b5f3c1e-1111-4a4a-9b9b-222233334444' };
    expect(validateResource(body)).toBeUndefined();
    expect(body.contained[2]).not.toHaveProperty('meta');
  });

  it('a primitive extension holding only fhir_comments (_family, _status) goes', () => {
    const body = booking();
    body.contained[1].name[0]._family = { fhir_comments: ['from XML'] };
    body._status = { fhir_comments: ['a new booking'] };
    expect(validateResource(body)).toBeUndefined();
    expect(body.contained[1].name[0]).not.toHaveProperty('_family');
    expect(body).not.toHaveProperty('_status');
  });

  it('an array item emptied goes, and an array left empty goes; upwards as far as the drop empties', () => {
    const expected = booking();
    const body = structuredClone(expected);
    body.contained[1].telecom.push({ vendorChannel: 'pager' });
    body.contained[1].address.push({ period: { colour: 'blue' } });
    body.contained[1].name[0].extension = [{ colour: 'blue' }];
    expect(validateResource(body)).toBeUndefined();
    expect(body).toEqual(expected);
  });

  it('an emptied item of a _given array becomes null, so _given still lines up with given', () => {
    const body = booking();
    const name = body.contained[1].name[0];
    name.given = ['Jane', 'Ann', 'Mary'];
    name._given = [null, { fhir_comments: ['second'] }, { id: 'g3', colour: 'blue' }];
    expect(validateResource(body)).toBeUndefined();
    expect(name._given).toEqual([null, null, { id: 'g3' }]);
    name._given = [{ fhir_comments: ['x'] }, null];
    name.given = ['Jane', 'Ann'];
    expect(validateResource(body)).toBeUndefined();
    expect(name).not.toHaveProperty('_given');
  });

  it('an element empty in the body itself is still refused, as is an empty array', () => {
    const body = booking();
    body.contained[2].meta = {};
    body.contained[1].name[0]._family = {};
    body.contained[1].telecom.push({});
    expect(validateResource(body)?.location).toEqual([
      'Appointment.contained[1].name[0]._family',
      'Appointment.contained[1].telecom[1]',
      'Appointment.contained[2].meta',
    ]);
    const empty = booking();
    empty.contained[1].address = [];
    expect(validateResource(empty)?.location).toEqual(['Appointment.contained[1].address']);
  });
});

describe('odd but well-formed JSON: always a 400 or 422, never a throw (a 500)', () => {
  it('a resourceType that is an object or an array, in a contained resource or inside an element, is a 422 naming it', () => {
    for (const odd of [{ toString: 1 }, { toString: {}, valueOf: {} }, ['Patient']]) {
      const inContained = booking();
      inContained.contained[0].resourceType = odd;
      expect(() => validateResource(inContained)).not.toThrow();
      expect(problemOf(inContained)).toMatchObject({ status: 422, spineCode: 'INVALID_RESOURCE', location: expect.arrayContaining(['Appointment.contained[0].resourceType']) });
      const inMeta = booking();
      inMeta.meta.resourceType = odd;
      expect(() => validateResource(inMeta)).not.toThrow();
      expect(() => checkBookingRequest(inMeta)).not.toThrow();
    }
  });

  it('a small fuzz: every element of a booking replaced by odd values, odd members added to every object', () => {
    const ODD: unknown[] = [null, {}, [], '', 0, 1.5, true, [null], [{}], { toString: 1 }, { toString: {}, valueOf: {} }, [{ toString: 1 }], { length: -1 }, { reference: '#P1' }];
    const KEYS = ['resourceType', 'id', 'reference', 'url', 'value', 'toString', '__proto__'];
    const KEY_VALUES: unknown[] = [null, {}, 'x', { toString: 1 }, [{ toString: 1 }]];
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, p: (string | number)[]) => {
      if (p.length) paths.push(p);
      if (Array.isArray(v)) for (const [i, x] of v.entries()) walk(x, [...p, i]);
      else if (v && typeof v === 'object') for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], [...p, k]);
    };
    walk(booking(), []);
    const at = (body: Record<string, any>, p: (string | number)[]) => p.reduce((o, k) => o[k], body);
    const bodies: { what: string; body: unknown }[] = [];
    for (const p of paths) {
      for (const v of ODD) {
        const body = booking();
        at(body, p.slice(0, -1))[p.at(-1) as string] = v;
        bodies.push({ what: `${p.join('.')} = ${JSON.stringify(v)}`, body: JSON.parse(JSON.stringify(body)) });
      }
      const target = at(booking(), p);
      if (target && typeof target === 'object' && !Array.isArray(target)) {
        for (const key of KEYS) {
          for (const v of KEY_VALUES) {
            const body = booking();
            // JSON.parse, as a request body arrives: "__proto__" becomes an own member.
            Object.assign(at(body, p), JSON.parse(`{${JSON.stringify(key)}:${JSON.stringify(v) ?? 'null'}}`));
            bodies.push({ what: `${p.join('.')}.${key} = ${JSON.stringify(v)}`, body: JSON.parse(JSON.stringify(body)) });
          }
        }
      }
    }
    expect(bodies.length).toBeGreaterThan(2000);
    const thrown: string[] = [];
    for (const { what, body } of bodies) {
      try {
        const checked = checkBookingRequest(structuredClone(body));
        if (!checked.ok && ![400, 422].includes(checked.problem.status)) thrown.push(`${what}: status ${checked.problem.status}`);
        // A 400 stops before the FHIR layer, and the worker skips it: run both on their own too.
        if (!checked.ok && checked.problem.status === 400) validateResource(structuredClone(body));
        checkBookingRequest(structuredClone(body), { fhirValidated: true });
      } catch (error) {
        thrown.push(`${what}: ${(error as Error).message}`);
      }
    }
    expect(thrown.slice(0, 10)).toEqual([]);
  });
});

describe('careconnect-profile-rules.json', () => {
  const profiles = new URL('../../../../shared/spec/profiles', import.meta.url);
  it.skipIf(!existsSync(profiles))('is what scripts/build-profile-rules.mjs builds from ../shared/spec/profiles today', async () => {
    const { buildRules, OUT } = (await import('../scripts/build-profile-rules.mjs' as string)) as { buildRules: () => string; OUT: string };
    expect(readFileSync(OUT, 'utf8')).toBe(buildRules());
  });
});

describe('modifier extensions', () => {
  it('refuses any modifierExtension (none is understood), while an unknown plain extension is accepted', () => {
    const onAppointment = structuredClone(booking()) as Record<string, any>;
    onAppointment.modifierExtension = [{ url: 'https://example.org/not-a-real-booking', valueBoolean: true }];
    expect(validateResource(onAppointment)).toMatchObject({ status: 422, spineCode: 'INVALID_RESOURCE', location: ['Appointment.modifierExtension'] });
    expect(validateResource(onAppointment)?.diagnostics).toMatch(/modifier extension https:\/\/example\.org\/not-a-real-booking is not understood/);

    const onPatient = structuredClone(booking()) as Record<string, any>;
    const patient = onPatient.contained.findIndex((r: { resourceType: string }) => r.resourceType === 'Patient');
    onPatient.contained[patient].modifierExtension = [{ url: 'https://example.org/deceased-really', valueBoolean: true }];
    expect(validateResource(onPatient)?.location).toEqual([`Appointment.contained[${patient}].modifierExtension`]);

    const plain = structuredClone(booking()) as Record<string, any>;
    plain.extension = [...(plain.extension ?? []), { url: 'https://example.org/some-note', valueString: 'ignored' }];
    expect(validateResource(plain)).toBeUndefined();
  });
});
