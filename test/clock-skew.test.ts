import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bookingBody, consumerHeaders } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { type ManagedProcess, Stack } from './support/stack.js';

/**
 * Facade and worker often run on different hosts, whose clocks differ. A job's deadline is stamped
 * by the facade and checked by the worker, so both read it on Redis's clock (QueueClock): a host
 * clock ahead or behind changes nothing for deadlines. Real facade, worker, Redis and SQLite PAS;
 * one process's clock is shifted by a preload.
 */
const shifted = (ms: number) => ({ NODE_OPTIONS: `--import ${new URL('./support/clock-offset.mjs', import.meta.url).pathname}`, CLOCK_OFFSET_MS: String(ms) });

function oneFreeSlot(stack: Stack) {
  const db = stack.openPas();
  const [slot] = freeSlots(db, '999999999', 1);
  db.close();
  if (!slot) throw new Error('no free slot in the demo PAS');
  return slot;
}

/** Lines of a process's log saying a book job ended, whatever it did. */
const bookJobsEnded = (p: ManagedProcess | undefined) =>
  (p?.output.join('') ?? '').split('\n').filter((l) => l.includes('"kind":"book"') && /"msg":"job (done|failed|reached its deadline|past its deadline)/.test(l)).length;

describe("a facade host's clock 3 s ahead of its worker's", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1, facades: 0, env: { LOG_LEVEL: 'info', JOB_TIMEOUT_MS: '3000', PAS_SQLITE_BUSY_TIMEOUT_MS: '30000' } });
    await stack.waitReady(await stack.startFacade(shifted(3000)));
  }, 120_000);
  afterAll(async () => stack?.stop());

  it('commits no booking after its consumer was answered 500 "outcome unknown"', { timeout: 120_000 }, async () => {
    const slot = oneFreeSlot(stack);
    const clerk = new Database(stack.pasPath);
    clerk.exec('BEGIN EXCLUSIVE'); // a PAS screen holds the write lock past the request's time
    const requestId = randomUUID();
    let status: number;
    let body: { issue?: { diagnostics?: string }[] };
    try {
      const res = await fetch(`${stack.baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(stack.baseUrl, 'book', { 'X-Request-ID': requestId }), body: JSON.stringify(bookingBody(slot)) });
      status = res.status;
      body = (await res.json()) as typeof body;
    } finally {
      clerk.exec('COMMIT'); // released only once the consumer has its answer
      clerk.close();
    }
    expect(status).toBe(500);
    expect(body.issue?.[0]?.diagnostics).toMatch(/unknown/i);

    for (let i = 0; i < 300 && bookJobsEnded(stack.workers[0]) < 1; i++) await sleep(100);
    expect(bookJobsEnded(stack.workers[0])).toBe(1);
    const pas = stack.openPas();
    const logged = pas.prepare('SELECT 1 FROM booking_REQUEST_LOG WHERE REQUEST_ID = ?').get(requestId);
    const slotStatus = (pas.prepare('SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_ID = ?').get(Number(slot.id)) as { SLOT_STATUS: string }).SLOT_STATUS;
    pas.close();
    expect(logged, 'a booking committed after its consumer was answered 500 "outcome unknown"').toBeUndefined();
    expect(slotStatus).toBe('F');
  });
});

describe("a worker host's clock ahead of its facade's by more than JOB_TIMEOUT_MS", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 0, facades: 0, env: { JOB_TIMEOUT_MS: '10000' } });
    stack.startWorker(undefined, shifted(11_000));
    await stack.waitReady(await stack.startFacade());
  }, 120_000);
  afterAll(async () => stack?.stop());

  it('still books (its jobs are not taken for expired)', { timeout: 60_000 }, async () => {
    const slot = oneFreeSlot(stack);
    const res = await fetch(`${stack.baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(stack.baseUrl, 'book', { 'X-Request-ID': randomUUID() }), body: JSON.stringify(bookingBody(slot)) });
    const body = (await res.json()) as { issue?: { diagnostics?: string }[] };
    expect(res.status, body.issue?.[0]?.diagnostics).toBe(201);
  });
});
