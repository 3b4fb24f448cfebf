import { randomUUID } from 'node:crypto';
import { appointmentSearchSummary } from '@booking/fhir';
import { checkConsistency, LocalClock, openPasScreens, type PasScreens, SQLITE_TABLES } from '@booking/pas';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SlotForBooking } from './support/consumer.js';
import { freeSlots, pasCounts } from './support/pas.js';
import { type Answer, consumer, holdsSlot, type Json, outcome, slotReferenceResolves } from './support/pas-truth.js';
import { metricValue, scrape } from './support/prometheus.js';
import { Stack } from './support/stack.js';

/**
 * Issue 10 through the API on the embedded default: real facade and worker processes, Redis and
 * the SQLite demo PAS, with the PAS's own screens (legacy tables only) acting between and during
 * API calls. Each scenario of PAS-CONTRACT.md "API behaviour" 1-6 with its exact status, every
 * version read back with vread, ETag and If-Match; then PAS-side actions interleaved with
 * concurrent API bookings and cancels, after which the consistency check finds nothing.
 */

let stack: Stack;
let screens: PasScreens;
let api: ReturnType<typeof consumer>;
let slots: SlotForBooking[];
const clock = new LocalClock('Europe/London');

beforeAll(async () => {
  // The reconciler is left to its own schedule far away: these scenarios are about what the API's
  // own read, search and cancel see (test/reconciler.test.ts covers the sweep).
  stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 2, env: { RECONCILE_INTERVAL_SECONDS: '3600' } });
  screens = await openPasScreens({ sqlitePath: stack.pasPath });
  api = consumer(stack.baseUrl);
  const db = stack.openPas();
  slots = freeSlots(db);
  db.close();
});
afterAll(async () => {
  await screens?.close();
  await stack?.stop();
});

const takeSlot = (): SlotForBooking => {
  const slot = slots.shift();
  if (!slot) throw new Error('out of demo slots');
  return slot;
};

/** One PAS row, read as the PAS holds it now. */
function pasRow<T>(sql: string, ...params: unknown[]): T {
  const db = stack.openPas();
  try {
    return db.prepare(sql).get(...params) as T;
  } finally {
    db.close();
  }
}
const counts = () => {
  const db = stack.openPas();
  try {
    return pasCounts(db);
  } finally {
    db.close();
  }
};
const slotStatus = (slotId: string) => pasRow<{ SLOT_STATUS: string }>('SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_ID = ?', Number(slotId)).SLOT_STATUS;
const liveAppointmentsIn = (slotId: string) =>
  pasRow<{ n: number }>(`SELECT COUNT(*) AS n FROM APPOINTMENT WHERE SLOT_ID = ? AND APPT_STATUS NOT IN ('P', 'H', 'C')`, Number(slotId)).n;

async function booked(slot = takeSlot()): Promise<{ appointment: Json; etag: string; slot: SlotForBooking }> {
  const answer = await api.book(slot);
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  expect(answer.etag).toBe('W/"1"');
  return { appointment: answer.body, etag: answer.etag as string, slot };
}

/** Reads the appointment and checks read, ETag and the search by _id agree on the version. */
async function current(id: string): Promise<Answer> {
  const read = await api.read(id);
  expect(read.status, JSON.stringify(read.body)).toBe(200);
  expect(read.etag).toBe(`W/"${read.body.meta.versionId}"`);
  const search = await api.searchById(id);
  expect(search.status).toBe(200);
  // The search shows limited content (§12), of the same version.
  expect(search.body.entry.map((e: Json) => e.resource)).toEqual([appointmentSearchSummary(read.body)]);
  return read;
}

/** vread of every version 1..n: their statuses in order, each with its own versionId. */
async function history(id: string, n: number): Promise<Json[]> {
  const versions: Json[] = [];
  for (let v = 1; v <= n; v++) {
    const answer = await api.vread(id, String(v));
    expect(answer.status, `vread ${v}`).toBe(200);
    expect(answer.body.meta.versionId).toBe(String(v));
    versions.push(answer.body);
  }
  expect((await api.vread(id, String(n + 1))).status).toBe(404);
  return versions;
}

describe('1. an appointment cancelled in the PAS', () => {
  it('reads cancelled, version 2; vread shows both versions; the consumer cancel answers 409 with W/"1" and 422 INVALID_REQUEST_STATE with W/"2"', async () => {
    const { appointment, etag, slot } = await booked();
    await screens.cancel(appointment.id, 'hospital');

    const read = await current(appointment.id);
    expect(read.body.status).toBe('cancelled');
    expect(read.body.meta.versionId).toBe('2');
    expect(read.etag).toBe('W/"2"');
    expect(Date.parse(read.body.meta.lastUpdated)).toBeGreaterThanOrEqual(Date.parse(appointment.meta.lastUpdated));
    // What the PAS cannot hold is still what the consumer sent.
    expect(read.body.description).toBe(appointment.description);
    expect(read.body.contained.find((r: Json) => r.resourceType === 'DocumentReference')).toEqual(appointment.contained.find((r: Json) => r.resourceType === 'DocumentReference'));

    const [v1, v2] = await history(appointment.id, 2);
    expect(v1).toEqual(appointment);
    expect(v2).toEqual(read.body);

    const stale = await api.cancel(appointment, etag);
    expect(stale.status).toBe(409);
    const again = await api.cancel(read.body, 'W/"2"');
    expect(again.status).toBe(422);
    expect(outcome(again.body).code).toBe('INVALID_REQUEST_STATE');
    expect((await api.read(appointment.id)).body.meta.versionId).toBe('2');

    // The PAS freed the slot: it can be booked again through the API.
    expect(slotStatus(slot.id)).toBe('F');
    expect((await api.book(slot)).status).toBe(201);
  });
});

describe('2. an appointment moved in the PAS', () => {
  it('reads with the new start, end and slot, version 2; vread 1 keeps the old ones', async () => {
    const { appointment } = await booked();
    const to = takeSlot();
    await screens.move(appointment.id, to.id);

    const read = await current(appointment.id);
    expect(read.body.meta.versionId).toBe('2');
    expect(read.body.status).toBe('booked');
    expect(Date.parse(read.body.start)).toBe(Date.parse(to.start));
    expect(Date.parse(read.body.end)).toBe(Date.parse(to.end));
    expect(holdsSlot(read.body, to)).toBe(true);

    const [v1, v2] = await history(appointment.id, 2);
    expect(v1).toEqual(appointment);
    expect(v2).toEqual(read.body);
    expect(Date.parse(v1?.start)).not.toBe(Date.parse(to.start));
  });

  it('still references its contained Slot after the move (Appointment.slot resolves)', async () => {
    const { appointment } = await booked();
    await screens.move(appointment.id, takeSlot().id);
    const read = await current(appointment.id);
    expect(read.body.meta.versionId).toBe('2');
    expect(slotReferenceResolves(read.body)).toBe(true);
    const db = stack.openPas();
    try {
      const report = await checkConsistency(async (sql) => db.prepare(sql).all() as Record<string, unknown>[], SQLITE_TABLES);
      expect(report.findings.filter((f) => f.check === 'versions-with-dangling-slot-reference')).toEqual([]);
    } finally {
      db.close();
    }
  });
});

describe('3. the clinic cancels in the PAS and gives the freed slot to a walk-in', () => {
  it('the consumer cancel answers 409 with W/"1", 422 with W/"2"; the walk-in keeps the slot; a new booking of it answers 422', async () => {
    const { appointment, etag, slot } = await booked();
    await screens.cancel(appointment.id, 'hospital');
    const { pasAppointmentId } = await screens.walkIn(slot.id);

    const stale = await api.cancel(appointment, etag);
    expect(stale.status).toBe(409);
    const read = await current(appointment.id);
    expect(read.body).toMatchObject({ status: 'cancelled', meta: { versionId: '2' } });
    const again = await api.cancel(read.body, 'W/"2"');
    expect(again.status).toBe(422);
    expect(outcome(again.body).code).toBe('INVALID_REQUEST_STATE');

    expect(slotStatus(slot.id)).toBe('B');
    expect(pasRow<{ APPT_STATUS: string }>('SELECT APPT_STATUS FROM APPOINTMENT WHERE APPT_ID = ?', Number(pasAppointmentId)).APPT_STATUS).toBe('B');
    const second = await api.book(slot);
    expect(second.status).toBe(422);
    expect(outcome(second.body)).toEqual({ code: 'INVALID_REQUEST_STATE', diagnostics: 'Slot no longer available' });
    expect(liveAppointmentsIn(slot.id)).toBe(1);
    await history(appointment.id, 2);
  });
});

describe('4. cancelling an appointment the PAS moved', () => {
  it('answers 409 with the old ETag, 200 with the current one; frees the slot it holds now and leaves the old slot (now a walk-in\u2019s) alone', async () => {
    const { appointment, etag, slot: from } = await booked();
    const to = takeSlot();
    await screens.move(appointment.id, to.id);
    await screens.walkIn(from.id);

    expect((await api.cancel(appointment, etag)).status).toBe(409);
    const read = await current(appointment.id);
    expect(read.body.meta.versionId).toBe('2');
    const cancelled = await api.cancel(read.body, read.etag as string);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', meta: { versionId: '3' } });
    expect(cancelled.etag).toBe('W/"3"');
    expect(holdsSlot(cancelled.body, to)).toBe(true);

    expect(slotStatus(to.id)).toBe('F');
    expect(slotStatus(from.id)).toBe('B');
    expect(liveAppointmentsIn(from.id)).toBe(1);
    const [v1, v2, v3] = await history(appointment.id, 3);
    expect(v1?.status).toBe('booked');
    expect(holdsSlot(v2 as Json, to)).toBe(true);
    expect(v3).toEqual(cancelled.body);
  });
});

describe('5. bookable means published, free and future', () => {
  /** Legacy rows as a PAS administrator would set them up: an inactive clinic, an unpublished one, a past slot. */
  function addSlot(db: Database.Database, clinic: string, startInstant: string): SlotForBooking {
    const end = new Date(Date.parse(startInstant) + 15 * 60000).toISOString();
    const guid = randomUUID();
    const { lastInsertRowid } = db
      .prepare(`INSERT INTO CLINIC_SLOT (CLINIC_CODE, SLOT_GUID, START_DTTM, END_DTTM, SLOT_STATUS, CONTACT_TYPE) VALUES (?, ?, ?, ?, 'F', 'F')`)
      .run(clinic, guid, clock.toLocal(startInstant), clock.toLocal(end));
    return { id: String(lastInsertRowid), identifier: guid, schedule: `Schedule/${clinic}`, start: clock.toInstant(clock.toLocal(startInstant)), end: clock.toInstant(clock.toLocal(end)) };
  }

  let inactive: SlotForBooking;
  let unpublished: SlotForBooking;
  let past: SlotForBooking;

  beforeAll(() => {
    const db = new Database(stack.pasPath);
    try {
      const main = db.prepare(`SELECT * FROM CLINIC WHERE DOS_SERVICE_ID = '999999999'`).get() as Json;
      const copy = db.prepare(
        `INSERT INTO CLINIC (CLINIC_CODE, CLINIC_NAME, DOS_SERVICE_ID, SERVICE_NAME, SITE_CODE, ORG_CODE, STAFF_CODE, ACTIVE_FLAG) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      copy.run('CLOSED01', 'Closed clinic', '999999901', main.SERVICE_NAME, main.SITE_CODE, main.ORG_CODE, main.STAFF_CODE, 'N');
      copy.run('NODOS001', 'Unpublished clinic', null, main.SERVICE_NAME, main.SITE_CODE, main.ORG_CODE, main.STAFF_CODE, 'Y');
      const tomorrow = new Date(Date.now() + 86400000);
      tomorrow.setUTCHours(10, 0, 0, 0);
      inactive = addSlot(db, 'CLOSED01', tomorrow.toISOString());
      unpublished = addSlot(db, 'NODOS001', tomorrow.toISOString());
      const yesterday = new Date(Date.now() - 86400000);
      yesterday.setUTCHours(10, 0, 0, 0);
      past = addSlot(db, String(main.CLINIC_CODE).trim(), yesterday.toISOString());
    } finally {
      db.close();
    }
  });

  it('a slot of an inactive clinic, or of a clinic with no DOS_SERVICE_ID, answers 422 REFERENCE_NOT_FOUND', async () => {
    const before = counts();
    for (const slot of [inactive, unpublished]) {
      const answer = await api.book(slot);
      expect(answer.status, slot.schedule).toBe(422);
      expect(outcome(answer.body).code).toBe('REFERENCE_NOT_FOUND');
      expect(slotStatus(slot.id)).toBe('F');
    }
    expect(counts()).toEqual(before);
  });

  it('a slot in the past, taken by a walk-in, or withdrawn answers 422 "Slot no longer available"', async () => {
    const taken = takeSlot();
    await screens.walkIn(taken.id);
    const withdrawn = takeSlot();
    await screens.withdrawSlot(withdrawn.id);
    const before = counts();
    for (const slot of [past, taken, withdrawn]) {
      const answer = await api.book(slot);
      expect(answer.status, `slot ${slot.id}`).toBe(422);
      expect(outcome(answer.body)).toEqual({ code: 'INVALID_REQUEST_STATE', diagnostics: 'Slot no longer available' });
    }
    expect(counts()).toEqual(before);
    expect([slotStatus(past.id), slotStatus(taken.id), slotStatus(withdrawn.id)]).toEqual(['F', 'B', 'U']);
  });
});

describe('6. arrived, attended and did not attend in the PAS', () => {
  it('read as arrived, fulfilled and noshow, each a new version; attended and noshow cannot be cancelled (422 INVALID_REQUEST_STATE)', async () => {
    const arrivedThenSeen = await booked();
    const noShow = await booked();

    await screens.arrive(arrivedThenSeen.appointment.id);
    const arrived = await current(arrivedThenSeen.appointment.id);
    expect(arrived.body).toMatchObject({ status: 'arrived', meta: { versionId: '2' } });
    await screens.attend(arrivedThenSeen.appointment.id);
    const seen = await current(arrivedThenSeen.appointment.id);
    expect(seen.body).toMatchObject({ status: 'fulfilled', meta: { versionId: '3' } });
    expect((await history(arrivedThenSeen.appointment.id, 3)).map((v) => v.status)).toEqual(['booked', 'arrived', 'fulfilled']);

    await screens.didNotAttend(noShow.appointment.id);
    const missed = await current(noShow.appointment.id);
    expect(missed.body).toMatchObject({ status: 'noshow', meta: { versionId: '2' } });
    expect((await history(noShow.appointment.id, 2)).map((v) => v.status)).toEqual(['booked', 'noshow']);

    for (const held of [seen, missed]) {
      const answer = await api.cancel(held.body, held.etag as string);
      expect(answer.status, JSON.stringify(answer.body)).toBe(422);
      expect(outcome(answer.body).code).toBe('INVALID_REQUEST_STATE');
    }
    expect(slotStatus(arrivedThenSeen.slot.id)).toBe('B');
    expect(slotStatus(noShow.slot.id)).toBe('B');
    expect((await api.read(noShow.appointment.id)).body.meta.versionId).toBe('2');
  });

  it('an arrived appointment can still be cancelled with its current ETag (and only with it)', async () => {
    const { appointment, etag, slot } = await booked();
    await screens.arrive(appointment.id);
    expect((await api.cancel(appointment, etag)).status).toBe(409);
    const arrived = await current(appointment.id);
    const cancelled = await api.cancel(arrived.body, arrived.etag as string);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', meta: { versionId: '3' } });
    expect(slotStatus(slot.id)).toBe('F');
  });
});

describe('worker metrics and logs', () => {
  /** A metric summed over every worker of the stack. */
  const total = async (name: string, labels: Record<string, string>) => {
    let sum = 0;
    for (const worker of stack.workers) sum += metricValue(await scrapeWhenUp(worker.adminUrl as string), name, labels);
    return sum;
  };
  /** A worker's admin listener comes up on its own, shortly after the facade is ready. */
  async function scrapeWhenUp(adminUrl: string): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await scrape(adminUrl);
      } catch (error) {
        if (attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  it('count PAS-side changes by kind and where they were found, and every read of an unknown legacy code (logged once per code)', async () => {
    const changes = (kind: string) => total('booking_pas_changes_total', { kind, via: 'read' });
    const before = { status: await changes('status'), time: await changes('time'), slot: await changes('slot'), unknown: await total('booking_pas_unknown_codes_total', { code: 'Q' }) };

    const cancelled = await booked();
    await screens.cancel(cancelled.appointment.id, 'patient');
    expect((await api.read(cancelled.appointment.id)).body.status).toBe('cancelled');
    const moved = await booked();
    await screens.move(moved.appointment.id, takeSlot().id);
    expect((await api.read(moved.appointment.id)).body.meta.versionId).toBe('2');
    expect(await changes('status')).toBe(before.status + 1);
    expect(await changes('time')).toBe(before.time + 1);
    expect(await changes('slot')).toBe(before.slot + 1);

    // A code the trust's mapping does not know: read safely (last known status, no new version).
    const odd = await booked();
    const db = new Database(stack.pasPath);
    db.prepare(`UPDATE APPOINTMENT SET APPT_STATUS = 'Q' WHERE APPT_ID = (SELECT PAS_APPT_ID FROM booking_FHIR_APPOINTMENT WHERE APPOINTMENT_ID = ?)`).run(odd.appointment.id);
    db.close();
    for (let i = 0; i < 3; i++) expect((await api.read(odd.appointment.id)).body).toMatchObject({ status: 'booked', meta: { versionId: '1' } });
    expect(await total('booking_pas_unknown_codes_total', { code: 'Q' })).toBe(before.unknown + 3);
    const warnings = stack.workers.flatMap((w) => w.output.join('').split('\n')).filter((line) => line.includes('legacy code with no mapping') && line.includes('"code":"Q"'));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(stack.workers.length);
  });
});

describe('PAS-side actions interleaved with concurrent API bookings and cancels', () => {
  it('never leave two live appointments in one slot, nor a busy slot with none: the consistency check finds nothing', async () => {
    interface Held {
      appointment: Json;
      etag: string;
      slot: SlotForBooking;
    }
    const held: Held[] = [];
    const statuses = { book: new Map<number, number>(), cancel: new Map<number, number>(), pas: { done: 0, refused: 0 } };
    const count = (map: Map<number, number>, status: number) => map.set(status, (map.get(status) ?? 0) + 1);

    const book = async (slot: SlotForBooking) => {
      const answer = await api.book(slot);
      count(statuses.book, answer.status);
      if (answer.status === 201) held.push({ appointment: answer.body, etag: answer.etag as string, slot });
    };
    const cancel = async (h: Held) => {
      const answer = await api.cancel(h.appointment, h.etag);
      count(statuses.cancel, answer.status);
    };
    /** A clerk's screen refuses a row that changed under it; that is the PAS being the PAS. */
    const clerk = async (action: () => Promise<unknown>) => {
      try {
        await action();
        statuses.pas.done++;
      } catch (error) {
        if (!/PAS screens:/.test((error as Error).message)) throw error;
        statuses.pas.refused++;
      }
    };

    for (let round = 0; round < 12; round++) {
      const fresh = takeSlot();
      const victim = held.at(-1);
      const ops: Promise<unknown>[] = [book(fresh), book(fresh)]; // two consumers race for one slot
      if (victim) {
        ops.push(cancel(victim)); // the consumer cancels with the ETag it holds, while the clerk acts
        switch (round % 4) {
          case 0: // the clinic cancels and gives the slot to a walk-in, racing a consumer booking it
            ops.push(clerk(() => screens.cancel(victim.appointment.id, 'hospital')).then(() => clerk(() => screens.walkIn(victim.slot.id))));
            ops.push(book(victim.slot));
            break;
          case 1: {
            const to = takeSlot();
            ops.push(clerk(() => screens.move(victim.appointment.id, to.id)));
            ops.push(book(to)); // a consumer books the slot the clerk moves the patient into
            break;
          }
          case 2:
            ops.push(clerk(() => screens.arrive(victim.appointment.id)));
            break;
          case 3:
            ops.push(clerk(() => screens.didNotAttend(victim.appointment.id)));
            break;
        }
      }
      await Promise.all(ops);
    }

    for (const status of statuses.book.keys()) expect([201, 422]).toContain(status);
    for (const status of statuses.cancel.keys()) expect([200, 409, 422]).toContain(status);
    expect(statuses.book.get(422)).toBeGreaterThanOrEqual(12); // every fresh slot was raced for
    expect(statuses.pas.done).toBeGreaterThan(0);

    // Every appointment read once through the API: the versions catch up with the PAS.
    const db = stack.openPas();
    const ids = (db.prepare('SELECT APPOINTMENT_ID FROM booking_FHIR_APPOINTMENT').all() as { APPOINTMENT_ID: string }[]).map((r) => r.APPOINTMENT_ID.trim());
    db.close();
    for (const id of ids) expect((await api.read(id)).status).toBe(200);

    const check = stack.openPas();
    try {
      const report = await checkConsistency(async (sql) => check.prepare(sql).all() as Record<string, unknown>[], SQLITE_TABLES);
      expect(report.findings).toEqual([]);
      expect(report.counts.appointments).toBe(ids.length);
      expect(pasCounts(check).doubleBookedSlots).toBe(0);
    } finally {
      check.close();
    }
  });
});
