import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppointmentVersion, generateDemoData, LocalClock, openPasScreens, type PasScreens } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import { checkBookingRequest, validateResource } from '@booking/fhir';
import type { CancelJob, WorkerReply } from '@booking/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleCancel } from '../src/handlers/cancel.js';
import { handleRead } from '../src/handlers/read.js';

/**
 * The cancel handler against a real SQLite PAS whose rows the PAS's own screens change between
 * requests: the answers keep the harness's order (404 → 412 → 409 → 422) and follow the PAS.
 */

const clock = new LocalClock();
const LOCAL = 'https://trust.example/hospital-number';

describe('cancel handler over PAS-side changes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cancel-handler-'));
  const path = join(dir, 'pas.db');
  let pas: SqlitePas;
  let screens: PasScreens;
  let slots: { id: string; guid: string; start: string; end: string }[];
  const deps = () => ({ pas, localPatientIdSystem: LOCAL, retry: <T,>(run: () => Promise<T>) => run() });

  beforeAll(async () => {
    pas = new SqlitePas({ path, localPatientIdSystem: LOCAL });
    const data = generateDemoData({ slotCount: 40 });
    loadDemoDataSqlite(pas.db, data);
    screens = await openPasScreens({ sqlitePath: path });
    slots = (pas.db.prepare(`SELECT SLOT_ID, SLOT_GUID, START_DTTM, END_DTTM FROM CLINIC_SLOT WHERE CLINIC_CODE = 'DEMOCL01' ORDER BY SLOT_ID`).all() as {
      SLOT_ID: number;
      SLOT_GUID: string;
      START_DTTM: string;
      END_DTTM: string;
    }[]).map((r) => ({ id: String(r.SLOT_ID), guid: r.SLOT_GUID, start: clock.toInstant(r.START_DTTM), end: clock.toInstant(r.END_DTTM) }));
  });
  afterAll(async () => {
    await screens?.close();
    await pas?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const book = async (): Promise<AppointmentVersion> => {
    const slot = slots.shift() as (typeof slots)[number];
    const appointmentId = randomUUID();
    const lastUpdated = new Date().toISOString();
    const result = await pas.book({
      requestId: randomUUID(),
      jobId: randomUUID(),
      appointmentId,
      slotGuid: slot.guid,
      start: slot.start,
      end: slot.end,
      reason: 'test',
      patient: { family: 'Test', gender: 'unknown', birthDate: '1990-01-01', addressLines: [] },
      lastUpdated,
      buildResource: (hosp) => ({
        resourceType: 'Appointment',
        id: appointmentId,
        meta: { versionId: '1', lastUpdated },
        status: 'booked',
        start: slot.start,
        end: slot.end,
        contained: [{ resourceType: 'Patient', id: 'P1', identifier: [{ system: LOCAL, value: hosp }] }],
        participant: [{ actor: { reference: '#P1' }, status: 'accepted' }],
      }),
    });
    if (result.outcome !== 'booked') throw new Error(JSON.stringify(result));
    return result.version;
  };

  const cancel = (version: AppointmentVersion, ifMatch: string | undefined): Promise<WorkerReply> => {
    const job: CancelJob = {
      kind: 'cancel',
      traceRequestId: randomUUID(),
      requestId: randomUUID(),
      appointmentId: version.appointmentId,
      ...(ifMatch !== undefined ? { ifMatch } : {}),
      appointment: { ...version.resource, status: 'cancelled' } as never,
    };
    return handleCancel(job, randomUUID(), deps());
  };
  const statusOf = (reply: WorkerReply) => (reply.type === 'problem' ? [reply.problem.status, reply.problem.spineCode] : [reply.type === 'resource' ? reply.status : 0, reply.type === 'resource' ? reply.versionId : undefined]);

  it('clinic cancels and gives the slot to a walk-in: W/"1" → 409, W/"2" → 422 INVALID_REQUEST_STATE, the walk-in keeps the slot', async () => {
    const v1 = await book();
    const slotId = pas.db.prepare('SELECT SLOT_ID FROM booking_FHIR_APPOINTMENT WHERE APPOINTMENT_ID = ?').pluck().get(v1.appointmentId) as number;
    await screens.cancel(v1.appointmentId, 'hospital');
    await screens.walkIn(String(slotId));
    expect(statusOf(await cancel(v1, undefined))).toEqual([412, 'MISSING_OR_INVALID_HEADER']);
    expect(statusOf(await cancel(v1, 'W/"1"'))).toEqual([409, 'CONFLICTING_VALUES']);
    expect(statusOf(await cancel(v1, 'W/"2"'))).toEqual([422, 'INVALID_REQUEST_STATE']);
    expect(pas.db.prepare('SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_ID = ?').pluck().get(slotId)).toBe('B');
    const read = await handleRead({ kind: 'read', traceRequestId: 'r', appointmentId: v1.appointmentId }, deps());
    expect(read).toMatchObject({ type: 'resource', status: 200, versionId: '2', resource: { status: 'cancelled' } });
  });

  it('an appointment the PAS moved: W/"1" → 409, W/"2" → 200 version 3, freeing the slot it holds now', async () => {
    const v1 = await book();
    const target = slots.shift() as (typeof slots)[number];
    await screens.move(v1.appointmentId, target.id);
    expect(statusOf(await cancel(v1, 'W/"1"'))).toEqual([409, 'CONFLICTING_VALUES']);
    const v2 = (await pas.readAppointment(v1.appointmentId)) as AppointmentVersion;
    expect(statusOf(await cancel(v2, 'W/"2"'))).toEqual([200, '3']);
    expect(pas.db.prepare('SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_ID = ?').pluck().get(Number(target.id))).toBe('F');
  });

  it('an appointment that has begun → 422 INVALID_REQUEST_STATE, saying so; the legacy row stays booked', async () => {
    const v1 = await book();
    const past = (minutes: number) => clock.toLocal(new Date(Date.now() - minutes * 60_000).toISOString());
    pas.db
      .prepare('UPDATE APPOINTMENT SET START_DTTM = ?, END_DTTM = ? WHERE APPT_ID = (SELECT PAS_APPT_ID FROM booking_FHIR_APPOINTMENT WHERE APPOINTMENT_ID = ?)')
      .run(past(3 * 24 * 60), past(3 * 24 * 60 - 15), v1.appointmentId);
    const v2 = (await pas.readAppointment(v1.appointmentId)) as AppointmentVersion;
    const reply = await cancel(v2, 'W/"2"');
    expect(statusOf(reply)).toEqual([422, 'INVALID_REQUEST_STATE']);
    expect(reply.type === 'problem' && reply.problem.diagnostics).toMatch(/has begun/);
    expect(pas.db.prepare('SELECT APPT_STATUS FROM APPOINTMENT WHERE APPT_ID = (SELECT PAS_APPT_ID FROM booking_FHIR_APPOINTMENT WHERE APPOINTMENT_ID = ?)').pluck().get(v1.appointmentId)).toBe('B');
  });

  it('attended or did-not-attend → 422 INVALID_REQUEST_STATE; an unknown appointment → 404', async () => {
    const attended = await book();
    await screens.attend(attended.appointmentId);
    expect(statusOf(await cancel(attended, 'W/"2"'))).toEqual([422, 'INVALID_REQUEST_STATE']);
    const dna = await book();
    await screens.didNotAttend(dna.appointmentId);
    expect(statusOf(await cancel(dna, 'W/"1"'))).toEqual([409, 'CONFLICTING_VALUES']);
    expect(statusOf(await cancel(dna, 'W/"2"'))).toEqual([422, 'INVALID_REQUEST_STATE']);
    expect(statusOf(await cancel({ ...dna, appointmentId: randomUUID() }, 'W/"1"'))).toEqual([404, 'NO_RECORD_FOUND']);
  });
  describe('an appointment a clerk gives to another PATIENT row', () => {
    const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
    const VERIFICATION = 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-NHSNumberVerificationStatus-1';
    /** A booking as a consumer sends it (the facade validated it), with the provider's id and version. */
    const bookValid = async (): Promise<AppointmentVersion> => {
      const slot = slots.shift() as (typeof slots)[number];
      const appointmentId = randomUUID();
      const lastUpdated = new Date().toISOString();
      const resource = {
        resourceType: 'Appointment',
        id: appointmentId,
        meta: { profile: ['https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-Appointment-1'], versionId: '1', lastUpdated },
        language: 'en-GB',
        contained: [
          {
            resourceType: 'DocumentReference',
            id: 'doc1',
            identifier: [{ system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() }],
            status: 'current',
            type: { coding: [{ system: 'urn:oid:2.16.840.1.113883.2.1.3.2.4.18.17', code: 'POCD_MT200001GB02', display: 'Integrated Urgent Care Report' }] },
            indexed: lastUpdated,
            content: [{ attachment: { contentType: 'application/hl7-v3+xml', language: 'en' } }],
          },
          {
            resourceType: 'Patient',
            id: 'P1',
            meta: { profile: ['https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-Patient-1'] },
            identifier: [{ extension: [{ url: VERIFICATION, valueCodeableConcept: { coding: [{ system: 'https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1', code: '01', display: 'Number present and verified' }] } }], use: 'official', system: NHS, value: '9658218873' }],
            name: [{ use: 'official', prefix: ['Mrs'], given: ['Jane'], family: 'Bloggs' }],
            telecom: [{ system: 'phone', value: '01234 567890', use: 'home', rank: 1 }],
            gender: 'female',
            birthDate: '1970-01-01',
            address: [{ use: 'home', line: ['1 High Street'], city: 'Leeds', postalCode: 'LS1 1AA' }],
          },
          { resourceType: 'Slot', id: slot.id, identifier: [{ system: 'https://tools.ietf.org/html/rfc4122', value: slot.guid }], schedule: { reference: 'Schedule/DEMOCL01' }, status: 'busy', start: slot.start, end: slot.end },
        ],
        status: 'booked',
        start: slot.start,
        end: slot.end,
        created: lastUpdated,
        description: 'Reason for calling',
        slot: [{ reference: `#${slot.id}` }],
        supportingInformation: [{ reference: '#doc1' }],
        participant: [{ actor: { reference: '#P1', identifier: { use: 'official', system: NHS, value: '9658218873' }, display: 'Jane Bloggs' }, status: 'accepted' }],
      };
      expect(validateResource(structuredClone(resource))).toBeUndefined();
      const result = await pas.book({
        requestId: randomUUID(),
        jobId: randomUUID(),
        appointmentId,
        slotGuid: slot.guid,
        start: slot.start,
        end: slot.end,
        reason: 'Reason for calling',
        patient: { nhsNumber: '9658218873', nhsNumberStatus: '01', title: 'Mrs', given: 'Jane', family: 'Bloggs', gender: 'female', birthDate: '1970-01-01', addressLines: ['1 High Street', 'Leeds'], postalCode: 'LS1 1AA', phone: '01234 567890' },
        lastUpdated,
        buildResource: () => resource,
      });
      if (result.outcome !== 'booked') throw new Error(JSON.stringify(result));
      return result.version;
    };
    const relink = (appointmentId: string, columns: Record<string, string | null>) => {
      const all = { HOSP_NO: `R${String(Date.now()).slice(-6)}${Math.floor(Math.random() * 1000)}`, SEX: 'U', DOB: '1950-01-01 00:00:00', SURNAME: 'SMITH', REG_TYPE: 'P', CREATED_DTTM: '2020-01-01 09:00:00', ...columns };
      const names = Object.keys(all);
      const id = pas.db.prepare(`INSERT INTO PATIENT (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`).run(...Object.values(all)).lastInsertRowid;
      pas.db.prepare('UPDATE APPOINTMENT SET PATIENT_ID = ? WHERE APPT_ID = (SELECT PAS_APPT_ID FROM booking_FHIR_APPOINTMENT WHERE APPOINTMENT_ID = ?)').run(id, appointmentId);
    };
    const noAddress = { ADDR_LINE1: null, ADDR_LINE2: null, TOWN: null, POSTCODE: null };

    it.each<[string, Record<string, string | null>]>([
      ["an NHS number not traced ('02'), no address, no phone", { NHS_NO: '9000000009', NHS_NO_STATUS: '02', TITLE: 'Mr', FORENAMES: 'John', SURNAME: 'Smith', SEX: 'M', ...noAddress }],
      ['an NHS number without a status, a blank surname', { NHS_NO: '9000000009', NHS_NO_STATUS: null, FORENAMES: 'Pat', SURNAME: ' ', ...noAddress, PHONE_NO: '0113 000 0000' }],
      ['no NHS number, no names, no address', { NHS_NO: null, NHS_NO_STATUS: null, FORENAMES: null, SURNAME: '', SEX: 'X', ...noAddress }],
      ['a town alone and a phone', { NHS_NO: '9000000009', NHS_NO_STATUS: '04', SURNAME: 'Jones', ...noAddress, TOWN: 'York', PHONE_NO: '01904 000000' }],
    ])('relinked to %s: the read is a body the facade accepts for the cancel, and it cancels', async (_what, columns) => {
      const v1 = await bookValid();
      relink(v1.appointmentId, columns);
      const read = await handleRead({ kind: 'read', traceRequestId: 'r', appointmentId: v1.appointmentId }, deps());
      if (read.type !== 'resource') throw new Error(JSON.stringify(read));
      expect(read.versionId).toBe('2');
      const body: Record<string, unknown> = { ...structuredClone(read.resource as Record<string, unknown>), status: 'cancelled' };
      // What apps/facade/src/interactions.ts runs on a cancel's PUT body.
      expect(validateResource(structuredClone(body))).toBeUndefined();
      const patient = (body.contained as Record<string, unknown>[]).find((r) => r.resourceType === 'Patient') as Record<string, unknown>;
      // Spec §9.1 elements are there, honest about what the PATIENT row lacks; never the first patient's.
      expect(patient.address).toHaveLength(1);
      expect(JSON.stringify(patient)).not.toMatch(/Bloggs|Jane|High Street|01234/);
      for (const t of (patient.telecom as Record<string, unknown>[] | undefined) ?? []) expect(t.rank).toBe(1);
      for (const i of (patient.identifier as Record<string, unknown>[] | undefined) ?? []) if (i.system === NHS) expect(JSON.stringify(i.extension)).toContain(VERIFICATION);
      expect(((body.participant as Record<string, Record<string, unknown>>[])[0]?.actor as Record<string, unknown>).display).toEqual(expect.any(String));
      expect(statusOf(await cancel({ ...v1, resource: read.resource as AppointmentVersion['resource'] }, 'W/"2"'))).toEqual([200, '3']);
    });

    it("relinked to a patient with an NHS number, a blank surname and no address: the Patient meets the booking's own rules too", async () => {
      const v1 = await bookValid();
      relink(v1.appointmentId, { NHS_NO: '9000000009', NHS_NO_STATUS: '02', FORENAMES: 'Pat', SURNAME: '  ', ...noAddress, PHONE_NO: '0113 000 0000' });
      const read = (await pas.readAppointment(v1.appointmentId)) as AppointmentVersion;
      const { id: _id, meta: _meta, ...asBooking } = structuredClone(read.resource) as Record<string, unknown>;
      const checked = checkBookingRequest(asBooking);
      expect(checked).toMatchObject({
        ok: true,
        value: { patient: { nhsNumber: '9000000009', nhsNumberStatus: '02', given: 'Pat', family: 'Not recorded', addressLines: [], phone: '0113 000 0000' } },
      });
      const patient = (read.resource.contained as Record<string, unknown>[]).find((r) => r.resourceType === 'Patient');
      expect(patient).toMatchObject({
        identifier: [{ extension: [{ url: VERIFICATION, valueCodeableConcept: { coding: [{ code: '02', display: 'Number present but not traced' }] } }], value: '9000000009' }],
        name: [{ use: 'official', text: 'Pat', family: 'Not recorded', given: ['Pat'] }],
        telecom: [{ system: 'phone', value: '0113 000 0000', rank: 1 }],
        address: [{ use: 'home', text: 'Not recorded' }],
      });
      expect(read.resource.participant).toEqual([{ actor: { reference: '#P1', identifier: { system: NHS, value: '9000000009' }, display: 'Pat' }, status: 'accepted' }]);
    });
  });
});
