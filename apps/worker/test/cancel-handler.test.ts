import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppointmentVersion, generateDemoData, LocalClock, openPasScreens, type PasScreens } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
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
});
