import { describe, expect, it } from 'vitest';
import { DEFAULT_STATUS_MAPPING } from '../src/appointment-status.js';
import { LocalClock } from '../src/local-time.js';
import { EXTENSIONS } from '@booking/fhir/types';
import { type ComposeRow, compose } from '../src/transactions/compose.js';

const CANCELLATION_REASON_URL = EXTENSIONS.cancellationReason;

/** Composition rules in-process: what the PAS rows change in a stored Appointment, and what they never touch. */

const clock = new LocalClock('Europe/London');
const LOCAL = 'https://trust.example/hospital-number';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

const stored = {
  resourceType: 'Appointment',
  id: 'a1',
  meta: { versionId: '1', lastUpdated: '2026-12-01T10:00:00.000Z' },
  status: 'booked',
  start: '2026-12-02T08:00:00.000Z',
  end: '2026-12-02T08:15:00.000Z',
  description: 'kept as the consumer sent it',
  slot: [{ reference: '#17' }],
  contained: [
    { resourceType: 'DocumentReference', id: 'D1' },
    { resourceType: 'Patient', id: 'P1', identifier: [{ system: NHS, value: '9000000009' }, { system: LOCAL, value: 'T000000001' }, { system: 'other', value: 'x' }] },
    { resourceType: 'Slot', id: '17', identifier: [{ system: 's', value: 'aaaaaaaa-0000-0000-0000-000000000017' }], start: '2026-12-02T08:00:00.000Z', end: '2026-12-02T08:15:00.000Z', schedule: { reference: 'Schedule/DEMOCL01' } },
  ],
};

const row = (over: Partial<ComposeRow> = {}, resource: object = stored): ComposeRow => ({
  APPOINTMENT_ID: 'a1',
  PAS_APPT_ID: 1,
  STORED_SLOT_ID: 17,
  CURRENT_VERSION: 1,
  STORED_STATUS: 'booked',
  LAST_UPDATED_UTC: '2026-12-01T10:00:00.000Z',
  RESOURCE_JSON: JSON.stringify(resource),
  APPT_STATUS: 'B',
  SLOT_ID: 17,
  PATIENT_ID: 5,
  START_DTTM: '2026-12-02 08:00:00',
  END_DTTM: '2026-12-02 08:15:00',
  SLOT_GUID: 'AAAAAAAA-0000-0000-0000-000000000017',
  SLOT_START: '2026-12-02 08:00:00',
  SLOT_END: '2026-12-02 08:15:00',
  CLINIC_CODE: 'DEMOCL01',
  HOSP_NO: 'T000000001',
  NHS_NO: '9000000009',
  ...over,
});

describe('compose', () => {
  it("compares the contained Slot with the PAS only when the product wrote it (PAS_PATIENT_ID set): a version from before holds the consumer's copy, which is no change; its next version takes the PAS's slot", () => {
    const copy = { ...stored, contained: stored.contained.map((r) => (r.resourceType === 'Slot' ? { ...r, schedule: { reference: 'Schedule/1' }, end: '2026-12-02T08:10:00.000Z' } : r)) };
    const slotOf = (c: { resource: Record<string, unknown> }) => (c.resource.contained as Record<string, unknown>[]).find((r) => r.resourceType === 'Slot');
    // Booked before the upgrade: the PAS changed nothing, so version 1 stands.
    expect(compose(row({ STORED_PATIENT_ID: null }, copy), DEFAULT_STATUS_MAPPING, clock, LOCAL)).toMatchObject({ kinds: [] });
    // A clerk's arrival makes the next version, whose contained Slot is the PAS's.
    const arrived = compose(row({ STORED_PATIENT_ID: null, APPT_STATUS: 'A' }, copy), DEFAULT_STATUS_MAPPING, clock, LOCAL);
    expect(arrived.kinds).toEqual(['status']);
    expect(slotOf(arrived)).toMatchObject({ schedule: { reference: 'Schedule/DEMOCL01' }, end: '2026-12-02T08:15:00.000Z' });
    // Written by the product as the PAS had it: a difference now is the PAS's change.
    expect(compose(row({ STORED_PATIENT_ID: 5 }, copy), DEFAULT_STATUS_MAPPING, clock, LOCAL).kinds).toEqual(['slot']);
  });

  it('finds no change when the PAS agrees (milliseconds the legacy columns cannot hold are no change)', () => {
    expect(compose(row(), DEFAULT_STATUS_MAPPING, clock, LOCAL)).toMatchObject({ kinds: [], status: 'booked', resource: stored });
    const withMs = { ...stored, start: '2026-12-02T08:00:00.400Z' };
    expect(compose(row({}, withMs), DEFAULT_STATUS_MAPPING, clock, LOCAL).kinds).toEqual([]);
  });

  it('takes a move: start, end and the contained Slot from the new slot; everything else kept', () => {
    const c = compose(
      row({ SLOT_ID: 42, START_DTTM: '2026-12-03 09:00:00', END_DTTM: '2026-12-03 09:15:00', SLOT_GUID: 'BBBBBBBB-0000-0000-0000-000000000042', SLOT_START: '2026-12-03 09:00:00', SLOT_END: '2026-12-03 09:15:00', CLINIC_CODE: 'DEMOCL02' }),
      DEFAULT_STATUS_MAPPING,
      clock,
      LOCAL,
    );
    expect(c.kinds).toEqual(['time', 'slot']);
    expect(c.resource).toMatchObject({ start: '2026-12-03T09:00:00.000Z', end: '2026-12-03T09:15:00.000Z', description: stored.description });
    expect((c.resource.contained as object[])[2]).toEqual({
      resourceType: 'Slot',
      id: '42',
      identifier: [{ system: 's', value: 'bbbbbbbb-0000-0000-0000-000000000042' }],
      start: '2026-12-03T09:00:00.000Z',
      end: '2026-12-03T09:15:00.000Z',
      schedule: { reference: 'Schedule/DEMOCL02' },
    });
    expect((c.resource.contained as object[])[0]).toEqual(stored.contained[0]);
    // Appointment.slot follows the renamed contained Slot: it never points at nothing.
    expect(c.resource.slot).toEqual([{ reference: '#42' }]);
  });

  it("keeps a consumer's own contained Slot id that was never the legacy id", () => {
    const own = { ...stored, contained: stored.contained.map((r) => (r.resourceType === 'Slot' ? { ...r, id: 'slot-1' } : r)) };
    const c = compose(row({ SLOT_ID: 42 }, own), DEFAULT_STATUS_MAPPING, clock, LOCAL);
    expect(c.kinds).toEqual(['slot']);
    expect((c.resource.contained as { id: string }[])[2]?.id).toBe('slot-1');
  });

  it('follows the same patient\'s NHS number and local hospital number, no other identifier', () => {
    const c = compose(row({ STORED_PATIENT_ID: 5, NHS_NO: '9000000017', HOSP_NO: 'H123      ' }), DEFAULT_STATUS_MAPPING, clock, LOCAL);
    expect(c.kinds).toEqual(['patient']);
    expect((c.resource.contained as { identifier?: unknown }[])[1]?.identifier).toEqual([
      { system: NHS, value: '9000000017' },
      { system: LOCAL, value: 'H123' },
      { system: 'other', value: 'x' },
    ]);
  });

  it('drops an NHS number the PAS no longer holds (NULL or blank): a change, not kept', () => {
    for (const NHS_NO of [null, '          ']) {
      const c = compose(row({ STORED_PATIENT_ID: 5, NHS_NO }), DEFAULT_STATUS_MAPPING, clock, LOCAL);
      expect(c.kinds).toEqual(['patient']);
      expect((c.resource.contained as { identifier?: unknown }[])[1]?.identifier).toEqual([{ system: LOCAL, value: 'T000000001' }, { system: 'other', value: 'x' }]);
    }
  });

  it('composes another patient wholly from the PATIENT row: by PATIENT_ID, or (a row recorded before that was kept) by identifiers', () => {
    const demographics = { NHS_NO: null, HOSP_NO: 'W1', SURNAME: 'WALKIN', FORENAMES: 'Pat', SEX: 'F', DOB: new Date('1960-01-01T00:00:00Z') };
    for (const over of [{ STORED_PATIENT_ID: 4 }, { STORED_PATIENT_ID: null }]) {
      const c = compose(row({ ...over, ...demographics }), DEFAULT_STATUS_MAPPING, clock, LOCAL);
      expect(c.kinds).toEqual(['patient']);
      expect((c.resource.contained as unknown[])[1]).toEqual({
        resourceType: 'Patient',
        id: 'P1',
        identifier: [{ system: LOCAL, value: 'W1' }],
        name: [{ use: 'official', family: 'WALKIN', given: ['Pat'] }],
        gender: 'female',
        birthDate: '1960-01-01',
        address: [{ use: 'home', text: 'Not recorded' }],
      });
    }
    // The same patient as recorded: nothing to compose.
    expect(compose(row({ STORED_PATIENT_ID: 5 }), DEFAULT_STATUS_MAPPING, clock, LOCAL).kinds).toEqual([]);
  });

  it("states the PATIENT row's NHS number verification status always (an unknown one as '02'), and what the row lacks as not recorded", () => {
    const patientOf = (over: Partial<ComposeRow>) => {
      const withParticipant = { ...stored, participant: [{ actor: { reference: '#P1', display: 'First Patient' }, status: 'accepted' }] };
      const c = compose(row({ STORED_PATIENT_ID: 4, SURNAME: 'OTHER', SEX: 'M', DOB: '1950-01-01 00:00:00', ...over }, withParticipant), DEFAULT_STATUS_MAPPING, clock, LOCAL);
      const contained = c.resource.contained as Record<string, unknown>[];
      const participant = (c.resource.participant as { actor: Record<string, unknown> }[])[0]?.actor;
      return { patient: contained.find((r) => r.resourceType === 'Patient') as Record<string, unknown>, display: participant?.display };
    };
    const status = (code: string, display: string) => [
      { url: 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-NHSNumberVerificationStatus-1', valueCodeableConcept: { coding: [{ system: 'https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1', code, display }] } },
    ];
    const cases: [string | null, string, string][] = [
      ['01', '01', 'Number present and verified'],
      ['02', '02', 'Number present but not traced'],
      ['04 ', '04', 'Trace attempted - No match or multiple match found'],
      ['08', '08', 'Trace postponed (baby under six weeks old)'],
      [null, '02', 'Number present but not traced'],
      ['', '02', 'Number present but not traced'],
      ['99', '02', 'Number present but not traced'],
    ];
    for (const [column, code, display] of cases) {
      expect(patientOf({ NHS_NO_STATUS: column }).patient.identifier, String(column)).toEqual([{ extension: status(code, display), system: NHS, value: '9000000009' }]);
    }
    // A blank surname: family "Not recorded", the forenames the row has as the name's text and the display.
    expect(patientOf({ SURNAME: ' ', FORENAMES: 'Pat Q' })).toMatchObject({ patient: { name: [{ use: 'official', text: 'Pat Q', family: 'Not recorded', given: ['Pat', 'Q'] }] }, display: 'Pat Q' });
    expect(patientOf({ SURNAME: '', FORENAMES: null })).toMatchObject({ patient: { name: [{ use: 'official', text: 'Not recorded', family: 'Not recorded' }] }, display: 'Not recorded' });
    expect(patientOf({ FORENAMES: 'Bob' }).display).toBe('Bob OTHER');
    // No address columns: an address saying so; a town alone is the address's text; a phone is rank 1.
    expect(patientOf({}).patient.address).toEqual([{ use: 'home', text: 'Not recorded' }]);
    expect(patientOf({ TOWN: 'York ' }).patient.address).toEqual([{ use: 'home', text: 'York', city: 'York' }]);
    expect(patientOf({ ADDR_LINE2: '2 Road', POSTCODE: 'YO1 7HH' }).patient.address).toEqual([{ use: 'home', line: ['2 Road'], postalCode: 'YO1 7HH' }]);
    expect(patientOf({ PHONE_NO: ' 01904 000000 ' }).patient.telecom).toEqual([{ system: 'phone', value: '01904 000000', rank: 1 }]);
  });

  it('adds who cancelled as the CareConnect cancellation reason, unless one is there', () => {
    const c = compose(row({ APPT_STATUS: 'H' }), DEFAULT_STATUS_MAPPING, clock, LOCAL);
    expect(c).toMatchObject({ kinds: ['status'], status: 'cancelled', resource: { status: 'cancelled', extension: [{ url: CANCELLATION_REASON_URL, valueString: 'Cancelled by the hospital' }] } });
    const withReason = { ...stored, extension: [{ url: CANCELLATION_REASON_URL, valueString: 'consumer said' }] };
    expect(compose(row({ APPT_STATUS: 'P' }, withReason), DEFAULT_STATUS_MAPPING, clock, LOCAL).resource.extension).toEqual(withReason.extension);
    expect(compose(row({ APPT_STATUS: 'C' }), DEFAULT_STATUS_MAPPING, clock, LOCAL).resource).not.toHaveProperty('extension');
  });

  it('drops the cancellation reason when a clerk reinstates a cancelled appointment, keeping every other extension', () => {
    const other = { url: 'https://example.org/other', valueString: 'kept' };
    const cancelled = { ...stored, status: 'cancelled', extension: [other, { url: CANCELLATION_REASON_URL, valueString: 'Cancelled by the hospital' }] };
    const reinstated = compose(row({ STORED_STATUS: 'cancelled', APPT_STATUS: 'B' }, cancelled), DEFAULT_STATUS_MAPPING, clock, LOCAL);
    expect(reinstated).toMatchObject({ kinds: ['status'], status: 'booked', resource: { status: 'booked', extension: [other] } });
    const onlyReason = { ...cancelled, extension: [{ url: CANCELLATION_REASON_URL, valueString: 'Cancelled by the patient' }] };
    const arrived = compose(row({ STORED_STATUS: 'cancelled', APPT_STATUS: 'A' }, onlyReason), DEFAULT_STATUS_MAPPING, clock, LOCAL);
    expect(arrived.status).toBe('arrived');
    expect(arrived.resource).not.toHaveProperty('extension');
    // The stored version itself is never touched.
    expect(cancelled.extension).toHaveLength(2);
  });

  it('keeps the last known status for an unknown code; a legacy row gone before the appointment began reads entered-in-error, unless already final', () => {
    expect(compose(row({ APPT_STATUS: 'Q' }), DEFAULT_STATUS_MAPPING, clock, LOCAL)).toMatchObject({ kinds: [], status: 'booked', unknownCode: 'Q' });
    const gone = { APPT_STATUS: null, SLOT_ID: null, START_DTTM: null, END_DTTM: null };
    const future = { ...stored, start: '2999-01-01T09:00:00.000Z', end: '2999-01-01T09:15:00.000Z' };
    expect(compose(row(gone, future), DEFAULT_STATUS_MAPPING, clock, LOCAL)).toEqual({ kinds: ['status'], status: 'entered-in-error', resource: { ...future, status: 'entered-in-error' } });
    for (const final of ['cancelled', 'fulfilled', 'noshow', 'entered-in-error']) {
      expect(compose(row({ ...gone, STORED_STATUS: final }, future), DEFAULT_STATUS_MAPPING, clock, LOCAL)).toMatchObject({ kinds: [], status: final, resource: future });
    }
  });

  it('leaves the stored version standing when the legacy row of an appointment that has begun is gone (a clinic archives or purges what took place, often still booked or arrived)', () => {
    const gone = { APPT_STATUS: null, SLOT_ID: null, START_DTTM: null, END_DTTM: null };
    const past = { ...stored, start: '2020-01-01T09:00:00.000Z', end: '2020-01-01T09:15:00.000Z' };
    for (const status of ['booked', 'arrived']) {
      expect(compose(row({ ...gone, STORED_STATUS: status }, { ...past, status }), DEFAULT_STATUS_MAPPING, clock, LOCAL)).toMatchObject({ kinds: [], status });
    }
  });
});

describe('legacy slot codes', () => {
  it('are read trimmed and case-insensitively', async () => {
    const { slotStatusFromCode, deliveryChannelFromCode } = await import('../src/legacy-codes.js');
    expect(slotStatusFromCode(' f ')).toBe('free');
    expect(slotStatusFromCode('u')).toBe('busy-unavailable');
    expect(deliveryChannelFromCode('v ')).toBe('Video');
    expect(() => slotStatusFromCode('Q')).toThrow(/unknown legacy slot status/);
  });
});
