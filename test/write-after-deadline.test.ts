import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bookingBody, consumerHeaders, type SlotForBooking } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { Stack } from './support/stack.js';

/**
 * The worker checks a job's deadline when it asks for a PAS attempt, but the attempt's transaction
 * may begin much later: queued behind the worker's one SQLite connection, or waiting for another
 * process's write lock (a PAS screen, a report, a backup). No booking may be committed after its
 * consumer was answered 500 "outcome unknown": by then it may have booked elsewhere under a new
 * X-Request-ID. Real facade, worker and SQLite PAS; the lock is released only once every consumer
 * has been answered, so any booking found afterwards was made after its 500.
 */
describe('bookings whose PAS transaction would begin after the deadline', () => {
  let stack: Stack;
  beforeAll(async () => {
    // A busy wait far longer than the request's time: only the deadline can end it in time.
    stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1, env: { LOG_LEVEL: 'info', JOB_TIMEOUT_MS: '3000', PAS_SQLITE_BUSY_TIMEOUT_MS: '30000' } });
  });
  afterAll(async () => stack?.stop());

  it('never commits a booking after its consumer was answered "outcome unknown"', { timeout: 120_000 }, async () => {
    const db = stack.openPas();
    const slots = freeSlots(db, '999999999', 4);
    db.close();
    const clerk = new Database(stack.pasPath);
    clerk.exec('BEGIN EXCLUSIVE'); // another process holds the PAS file's write lock
    let answers: { requestId: string; status: number }[];
    try {
      answers = await Promise.all(
        slots.map(async (slot: SlotForBooking) => {
          const requestId = randomUUID();
          const res = await fetch(`${stack.baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(stack.baseUrl, 'book', { 'X-Request-ID': requestId }), body: JSON.stringify(bookingBody(slot)) });
          await res.arrayBuffer();
          return { requestId, status: res.status };
        }),
      );
    } finally {
      clerk.exec('COMMIT');
      clerk.close();
    }
    expect(answers.map((a) => a.status)).toEqual([500, 500, 500, 500]);

    // Every job (this stack runs no others) ends in the worker, whatever it did, before the PAS is looked at.
    const ended = () =>
      (stack.workers[0]?.output.join('') ?? '')
        .split('\n')
        .filter((l) => l.includes('"kind":"book"') && /"msg":"job (done|failed|reached its deadline|past its deadline)/.test(l)).length;
    for (let i = 0; i < 300 && ended() < answers.length; i++) await sleep(100);
    expect(ended()).toBe(answers.length);

    const pas = stack.openPas();
    const booked = answers.filter((a) => pas.prepare('SELECT 1 FROM booking_REQUEST_LOG WHERE REQUEST_ID = ?').get(a.requestId));
    const busy = slots.filter((s) => (pas.prepare('SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_ID = ?').get(Number(s.id)) as { SLOT_STATUS: string }).SLOT_STATUS !== 'F');
    pas.close();
    expect(booked, 'bookings committed after their consumer got 500 "outcome unknown"').toEqual([]);
    expect(busy).toEqual([]);
  });
});
