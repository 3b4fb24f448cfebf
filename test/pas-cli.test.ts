import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SlotForBooking } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { consumer } from './support/pas-truth.js';
import { cli } from './support/cli.js';
import { Stack } from './support/stack.js';

/**
 * `booking-facade pas …` (the PAS's own screens against the demo PAS) as a newcomer runs it after
 * booking through the API, and `booking-facade consistency` on what it leaves: real processes,
 * real Redis, the SQLite demo PAS.
 */

let stack: Stack;
let slots: SlotForBooking[];
let api: ReturnType<typeof consumer>;
/** The demo PAS as the CLI finds it by default: PAS_SQLITE_PATH, as `npm start` sets it. */
let env: Record<string, string>;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1, env: { RECONCILE_INTERVAL_SECONDS: '3600' } });
  env = { PAS_SQLITE_PATH: stack.pasPath };
  api = consumer(stack.baseUrl);
  const db = stack.openPas();
  slots = freeSlots(db);
  db.close();
});
afterAll(async () => stack?.stop());

async function book(): Promise<{ id: string; slot: SlotForBooking }> {
  const slot = slots.shift() as SlotForBooking;
  const answer = await api.book(slot);
  expect(answer.status).toBe(201);
  return { id: answer.body.id, slot };
}

describe('booking-facade pas', () => {
  it('--help lists every screen and the exit codes; each screen\u2019s --help its arguments', async () => {
    const help = await cli(['pas', '--help']);
    expect(help.code).toBe(0);
    for (const action of ['cancel', 'move', 'walk-in', 'arrive', 'attend', 'did-not-attend', 'withdraw-slot']) expect(help.stdout).toContain(action);
    expect(help.stdout).toContain('69  service unavailable');
    const cancel = await cli(['pas', 'cancel', '--help']);
    expect(cancel.code).toBe(0);
    for (const option of ['<appointmentId>', '--by', 'patient', 'hospital', '--sqlite', '--mssql', '--force', '--json']) expect(cancel.stdout).toContain(option);
    expect(cancel.stdout).toContain('refused the action');
  });

  it('the README walk-through: book, cancel it in the PAS, read it again \u2192 versionId 2, cancelled', async () => {
    const { id, slot } = await book();
    const r = await cli(['pas', 'cancel', id, '--by', 'hospital'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`appointment ${id} cancelled by the hospital`);
    const read = await api.read(id);
    expect(read.body).toMatchObject({ status: 'cancelled', meta: { versionId: '2' } });
    expect(read.etag).toBe('W/"2"');

    // Doing it again is refused by the screen, with why, and changes nothing.
    const again = await cli(['pas', 'cancel', id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^booking-facade: pas cancel: .*not booked or arrived/);
    const slotRow = () => {
      const db = stack.openPas();
      const row = db.prepare('SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_ID = ?').get(Number(slot.id)) as { SLOT_STATUS: string };
      db.close();
      return row.SLOT_STATUS;
    };
    expect(slotRow()).toBe('F');

    // The freed slot goes to a walk-in; then withdrawing it is refused (it is not free).
    const walkIn = await cli(['pas', 'walk-in', slot.id, '--json'], env);
    expect(walkIn.code, walkIn.stderr).toBe(0);
    expect(JSON.parse(walkIn.stdout)).toMatchObject({ ok: true, action: 'walk-in', slotId: slot.id, pasAppointmentId: expect.stringMatching(/^\d+$/) });
    expect(slotRow()).toBe('B');
    expect((await cli(['pas', 'withdraw-slot', slot.id], env)).code).toBe(1);
  });

  it('move, arrive, attend, did-not-attend and withdraw-slot each show on the next read', async () => {
    const moved = await book();
    const to = slots.shift() as SlotForBooking;
    expect((await cli(['pas', 'move', moved.id, to.id], env)).code).toBe(0);
    const afterMove = await api.read(moved.id);
    expect(afterMove.body.meta.versionId).toBe('2');
    expect(Date.parse(afterMove.body.start)).toBe(Date.parse(to.start));

    const seen = await book();
    expect((await cli(['pas', 'arrive', seen.id], env)).code).toBe(0);
    expect((await api.read(seen.id)).body).toMatchObject({ status: 'arrived', meta: { versionId: '2' } });
    expect((await cli(['pas', 'attend', seen.id], env)).code).toBe(0);
    expect((await api.read(seen.id)).body).toMatchObject({ status: 'fulfilled', meta: { versionId: '3' } });

    const missed = await book();
    expect((await cli(['pas', 'did-not-attend', missed.id], env)).code).toBe(0);
    expect((await api.read(missed.id)).body).toMatchObject({ status: 'noshow', meta: { versionId: '2' } });

    const withdrawn = slots.shift() as SlotForBooking;
    expect((await cli(['pas', 'withdraw-slot', withdrawn.id], env)).code).toBe(0);
    const booking = await api.book(withdrawn);
    expect(booking.status).toBe(422);

    // After all that, the PAS is consistent (the reads above recorded every change).
    const check = await cli(['consistency', '--json'], env);
    const report = JSON.parse(check.stdout) as { findings: { check: string }[] };
    expect(report.findings).toEqual([]);
    expect(check.code).toBe(0);
  });

  it('exit codes: 1 for an unknown appointment, 2 for usage, 69 with no PAS, 78 for a wrong setting; a non-demo PAS needs --force', async () => {
    const unknown = await cli(['pas', 'arrive', '00000000-0000-4000-8000-000000000000'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no appointment 00000000-0000-4000-8000-000000000000');

    for (const args of [['pas', 'move', 'some-id', 'slot-seven'], ['pas', 'cancel'], ['pas', 'cancel', 'x', '--by', 'nurse'], ['pas', 'teleport', 'x']]) {
      const r = await cli(args, env);
      expect(r.code, args.join(' ')).toBe(2);
    }
    const nowhere = await cli(['pas', 'arrive', 'x', '--sqlite', `${stack.dir}/nowhere.sqlite`]);
    expect(nowhere.code).toBe(69);
    expect(nowhere.stderr).toContain('no SQLite PAS');
    const wrong = await cli(['pas', 'arrive', 'x'], { PAS_ADAPTER: 'oracle' });
    expect(wrong.code).toBe(78);
    expect(wrong.stderr).toContain('PAS_ADAPTER');

    const db = new Database(stack.pasPath);
    db.prepare(`INSERT INTO CLINIC (CLINIC_CODE, CLINIC_NAME, ORG_CODE) SELECT 'REAL0001', 'A real clinic', ORG_CODE FROM CLINIC LIMIT 1`).run();
    db.close();
    const { id } = await book();
    const refused = await cli(['pas', 'arrive', id], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('not demo data');
    expect((await api.read(id)).body.status).toBe('booked');
    expect((await cli(['pas', 'arrive', id, '--force'], env)).code).toBe(0);
    expect((await api.read(id)).body.status).toBe('arrived');
  });
});
