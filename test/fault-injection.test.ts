import { setTimeout as sleep } from 'node:timers/promises';
import { checkConsistency, SQLITE_TABLES } from '@booking/pas';
import type Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookAll, type BookingAttempt, resolveUnknown } from './support/load.js';
import { freeSlots } from './support/pas.js';
import { type RedisServer, startRedis } from './support/redis.js';
import { Stack } from './support/stack.js';

/**
 * Fault injection: worker crashes, a Redis restart and a PAS outage under load, and heavy
 * contention, each with two facades and two workers sharing one Redis and one PAS. Afterwards
 * every request has an answer, every unknown outcome resolves through a same-id retry, and the
 * PAS holds exactly one appointment per successful booking with nothing double-booked.
 */

let redis: RedisServer;
beforeAll(async () => {
  // Its own Redis: restarting the shared one would disturb the other test files.
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const FAST_TIMEOUTS = { JOB_TIMEOUT_MS: '3000', PAS_SQLITE_BUSY_TIMEOUT_MS: '200' };

async function withStack<T>(slotCount: number, run: (stack: Stack) => Promise<T>): Promise<T> {
  const stack = await Stack.start({ redisUrl: redis.url, workers: 2, facades: 2, slotCount, env: FAST_TIMEOUTS });
  try {
    return await run(stack);
  } catch (error) {
    console.error(stack.logs());
    throw error;
  } finally {
    await stack.stop();
  }
}

async function consistency(db: Database.Database) {
  return checkConsistency(async (sql) => db.prepare(sql).all() as Record<string, unknown>[], SQLITE_TABLES);
}

/** What the README's reliability section reports: first answers, and how the unknown ones resolved. */
function summarize(name: string, attempts: BookingAttempt[]) {
  const count = (pick: (a: BookingAttempt) => unknown) => attempts.reduce<Record<string, number>>((acc, a) => ({ ...acc, [String(pick(a))]: (acc[String(pick(a))] ?? 0) + 1 }), {});
  const retried = attempts.filter((a) => a.retries > 0);
  console.info(`[fault-injection] ${name}: first answers ${JSON.stringify(count((a) => a.first))}; after same-id retries of the ${retried.length} unknown: ${JSON.stringify(count((a) => a.final))}`);
}

/** The checks every scenario ends with. */
async function expectExactlyOnce(stack: Stack, attempts: BookingAttempt[], name: string) {
  expect(attempts.filter((a) => a.first === 'network')).toEqual([]);
  await resolveUnknown(attempts);
  summarize(name, attempts);
  const unresolved = attempts.filter((a) => a.final === 500 || a.final === 'network');
  expect(unresolved.map((a) => a.final)).toEqual([]);
  // Each request books its own slot here, so it ends booked (201, or 409 naming its booking).
  expect(attempts.filter((a) => a.final !== 201 && a.final !== 409).map((a) => ({ first: a.first, final: a.final, retries: a.retries, slot: a.slot.id }))).toEqual([]);
  const booked = new Set(attempts.map((a) => a.appointmentId));
  expect(booked.has(undefined)).toBe(false);

  const db = stack.openPas();
  try {
    const report = await consistency(db);
    expect(report.findings).toEqual([]);
    expect(report.counts.appointments).toBe(booked.size);
    expect(report.counts.appointments).toBe(attempts.length);
    expect(report.counts.versions).toBe(attempts.length);
    expect(report.counts.requests).toBe(attempts.length);
    const stored = new Set((db.prepare('SELECT APPOINTMENT_ID FROM booking_FHIR_APPOINTMENT').all() as { APPOINTMENT_ID: string }[]).map((r) => r.APPOINTMENT_ID));
    for (const id of booked) expect(stored.has(id as string)).toBe(true);
  } finally {
    db.close();
  }
}

function slotsOf(stack: Stack, n: number) {
  const db = stack.openPas();
  try {
    return freeSlots(db, '999999999', n);
  } finally {
    db.close();
  }
}

describe('fault injection', () => {
  it('survives SIGKILL of a worker in the middle of 500 bookings', async () => {
    await withStack(600, async (stack) => {
      let killed = false;
      const attempts = await bookAll(slotsOf(stack, 500), stack.facades.map((f) => f.baseUrl), {
        concurrency: 16,
        during: (done) => {
          if (!killed && done >= 150) {
            killed = true;
            stack.workers[0]?.child.kill('SIGKILL');
          }
        },
      });
      expect(killed).toBe(true);
      await expectExactlyOnce(stack, attempts, 'worker SIGKILL');
    });
  });

  it('survives a Redis restart during load', async () => {
    await withStack(600, async (stack) => {
      let restart: Promise<void> | undefined;
      const attempts = await bookAll(slotsOf(stack, 500), stack.facades.map((f) => f.baseUrl), {
        concurrency: 16,
        during: (done) => {
          if (!restart && done >= 150) restart = redis.restart();
        },
      });
      await restart;
      expect(attempts.some((a) => a.first === 500)).toBe(true);
      await expectExactlyOnce(stack, attempts, 'Redis restart');
    });
  });

  it('survives the PAS being unavailable during load', async () => {
    await withStack(600, async (stack) => {
      let outage: Promise<void> | undefined;
      const attempts = await bookAll(slotsOf(stack, 500), stack.facades.map((f) => f.baseUrl), {
        concurrency: 16,
        during: (done) => {
          if (outage || done < 150) return;
          // An exclusive lock held by another process: every PAS transaction fails until it is released.
          // It lasts well beyond the facade's job timeout, so the bookings sent as it begins surely
          // outlive their wait (500) instead of racing it, however fast or busy the machine.
          outage = (async () => {
            const Database = (await import('better-sqlite3')).default;
            const blocker = new Database(stack.pasPath);
            blocker.exec('BEGIN EXCLUSIVE');
            await sleep(Number(FAST_TIMEOUTS.JOB_TIMEOUT_MS) + 2000);
            blocker.exec('COMMIT');
            blocker.close();
          })();
        },
      });
      await outage;
      expect(attempts.some((a) => a.first === 500)).toBe(true);
      await expectExactlyOnce(stack, attempts, 'PAS outage');
    });
  });

  it('gives exactly one winner per slot for 1,000 concurrent bookings over 100 slots across two facades', async () => {
    await withStack(200, async (stack) => {
      const slots = slotsOf(stack, 100);
      const attempts = await bookAll(slots, stack.facades.map((f) => f.baseUrl), { concurrency: 1000, contenders: 10 });
      await resolveUnknown(attempts);
      summarize('contention', attempts);
      expect(attempts.filter((a) => a.final !== 201 && a.final !== 422 && a.final !== 409).map((a) => a.final)).toEqual([]);
      const winners = attempts.filter((a) => a.final === 201 || a.final === 409);
      expect(attempts.filter((a) => a.first === 201)).toHaveLength(100 - attempts.filter((a) => a.first !== 201 && a.final === 409).length);
      expect(winners).toHaveLength(100);
      expect(new Set(winners.map((w) => w.slot.id)).size).toBe(100);
      const db = stack.openPas();
      try {
        const report = await consistency(db);
        expect(report.findings).toEqual([]);
        expect(report.counts.appointments).toBe(100);
      } finally {
        db.close();
      }
    });
  });
});
