import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDemoData } from '../src/demo-data.js';
import { LocalClock } from '../src/local-time.js';
import { openPasScreens, type PasScreens } from '../src/pas-screens.js';
import type { BookCommand, PasPort } from '../src/port.js';
import { loadDemoDataSqlite } from '../src/sqlite/demo-data.js';
import { SqlitePas } from '../src/sqlite/sqlite-pas.js';

/**
 * Whatever the PAS's staff do between and during API requests, no request may leave two live
 * appointments in one slot, a busy slot with no live appointment, or a free slot that a live
 * appointment holds. Two adapters on one SQLite file play two workers; a third connection plays
 * the PAS's screens; all three act at once, in a seeded random order.
 */

const LIVE = `APPT_STATUS NOT IN ('P', 'H', 'C')`;
const SLOTS = 24;

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('PAS-side actions interleaved with concurrent bookings and cancels (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pas-interleave-'));
  const path = join(dir, 'pas.db');
  const clock = new LocalClock();
  let workers: SqlitePas[];
  let screens: PasScreens;
  let slots: { id: number; guid: string; start: string; end: string }[];

  beforeAll(async () => {
    const first = new SqlitePas({ path });
    loadDemoDataSqlite(first.db, generateDemoData({ slotCount: SLOTS }));
    workers = [first, new SqlitePas({ path })];
    screens = await openPasScreens({ sqlitePath: path });
    slots = (first.db.prepare(`SELECT SLOT_ID, SLOT_GUID, START_DTTM, END_DTTM FROM CLINIC_SLOT WHERE CLINIC_CODE = 'DEMOCL01'`).all() as {
      SLOT_ID: number;
      SLOT_GUID: string;
      START_DTTM: string;
      END_DTTM: string;
    }[]).map((r) => ({ id: r.SLOT_ID, guid: r.SLOT_GUID, start: clock.toInstant(r.START_DTTM), end: clock.toInstant(r.END_DTTM) }));
  });

  afterAll(async () => {
    await screens?.close();
    for (const w of workers ?? []) await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const bookCommand = (slot: (typeof slots)[number]): BookCommand => {
    const appointmentId = randomUUID();
    const lastUpdated = new Date().toISOString();
    return {
      requestId: randomUUID(),
      jobId: randomUUID(),
      appointmentId,
      slotGuid: slot.guid,
      start: slot.start,
      end: slot.end,
      reason: 'interleave',
      patient: { family: 'Interleave', gender: 'unknown', birthDate: '1990-01-01', addressLines: [] },
      lastUpdated,
      buildResource: () => ({ resourceType: 'Appointment', id: appointmentId, meta: { versionId: '1', lastUpdated }, status: 'booked', start: slot.start, end: slot.end }),
    };
  };

  it('keeps every slot consistent with its live appointments', async () => {
    const next = random(20261201);
    const pick = <T,>(list: T[]) => list[Math.floor(next() * list.length)] as T;
    const booked: string[] = [];
    const outcomes = new Map<string, number>();
    const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);

    const apiBook = async (pas: PasPort) => {
      const result = await pas.book(bookCommand(pick(slots)));
      count(`book:${result.outcome}`);
      if (result.outcome === 'booked') booked.push(result.version.appointmentId);
    };
    const apiCancel = async (pas: PasPort) => {
      if (booked.length === 0) return;
      const id = pick(booked);
      const current = await pas.readAppointment(id);
      if (!current) return;
      const lastUpdated = new Date().toISOString();
      const result = await pas.cancel({
        requestId: randomUUID(),
        jobId: randomUUID(),
        appointmentId: id,
        expectedVersionId: current.versionId,
        lastUpdated,
        resource: { ...current.resource, status: 'cancelled' },
      });
      count(`cancel:${result.outcome}`);
    };
    const clerk = async () => {
      const action = pick(['cancel', 'move', 'walkIn', 'arrive', 'attend', 'dna', 'withdraw'] as const);
      const appointment = booked.length ? pick(booked) : undefined;
      const slotId = String(pick(slots).id);
      try {
        if (action === 'walkIn') await screens.walkIn(slotId);
        else if (action === 'withdraw') await screens.withdrawSlot(slotId);
        else if (!appointment) return;
        else if (action === 'cancel') await screens.cancel(appointment, next() < 0.5 ? 'patient' : 'hospital');
        else if (action === 'move') await screens.move(appointment, slotId);
        else if (action === 'arrive') await screens.arrive(appointment);
        else if (action === 'attend') await screens.attend(appointment);
        else await screens.didNotAttend(appointment);
        count(`pas:${action}`);
      } catch (error) {
        // Not applicable to the row as it is now: the clerk's screen refuses, as a PAS does.
        if (!/^PAS screens:/.test((error as Error).message)) throw error;
      }
    };

    for (let round = 0; round < 40; round++) {
      const work: Promise<void>[] = [];
      for (let i = 0; i < 6; i++) {
        const pas = pick(workers);
        const r = next();
        work.push(r < 0.45 ? apiBook(pas) : r < 0.75 ? apiCancel(pas) : clerk());
      }
      await Promise.all(work);
    }

    const db = (workers[0] as SqlitePas).db;
    const doubles = db.prepare(`SELECT SLOT_ID FROM APPOINTMENT WHERE ${LIVE} GROUP BY SLOT_ID HAVING COUNT(*) > 1`).all();
    const busyWithout = db
      .prepare(`SELECT SLOT_ID FROM CLINIC_SLOT s WHERE CLINIC_CODE = 'DEMOCL01' AND SLOT_STATUS = 'B' AND NOT EXISTS (SELECT 1 FROM APPOINTMENT a WHERE a.SLOT_ID = s.SLOT_ID AND ${LIVE})`)
      .all();
    const freeWith = db
      .prepare(`SELECT SLOT_ID FROM CLINIC_SLOT s WHERE SLOT_STATUS <> 'B' AND EXISTS (SELECT 1 FROM APPOINTMENT a WHERE a.SLOT_ID = s.SLOT_ID AND ${LIVE})`)
      .all();
    expect({ doubles, busyWithout, freeWith }).toEqual({ doubles: [], busyWithout: [], freeWith: [] });

    // Every API appointment reads as its PAS rows say, and the mix really happened.
    for (const id of booked) {
      const current = await (workers[1] as SqlitePas).readAppointment(id);
      const legacy = db
        .prepare(`SELECT p.APPT_STATUS FROM booking_FHIR_APPOINTMENT f JOIN APPOINTMENT p ON p.APPT_ID = f.PAS_APPT_ID WHERE f.APPOINTMENT_ID = ?`)
        .get(id) as { APPT_STATUS: string };
      const expected = { B: 'booked', A: 'arrived', S: 'fulfilled', D: 'noshow', P: 'cancelled', H: 'cancelled' }[legacy.APPT_STATUS];
      expect(current?.status, id).toBe(expected);
    }
    for (const kind of ['book:booked', 'book:slot-unavailable', 'cancel:cancelled', 'pas:walkIn', 'pas:cancel']) {
      expect(outcomes.get(kind) ?? 0, `${kind} in ${JSON.stringify([...outcomes])}`).toBeGreaterThan(0);
    }
  });
});
