import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SCHEDULE_ID_SYSTEM } from '@booking/fhir';
import { generateDemoData, LocalClock, type PasPort, TransientPasError } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import { decodeReply, encodeJob, Keyring, type PasJob, type WorkerReply } from '@booking/queue';
import type { Job } from 'bullmq';
import pino from 'pino';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { countOnce } from '../apps/worker/src/observability/count-once.js';
import { createWorkerMetrics } from '../apps/worker/src/observability/metrics.js';
import { createProcessor } from '../apps/worker/src/processor.js';
import { bookingBody } from './support/consumer.js';
import { metricValue } from './support/prometheus.js';

/**
 * A booking (or cancellation) is counted once per job, as `booked` (`cancelled`), by whichever run
 * of the job reaches it first, and `replayed` for every later run: BullMQ re-runs a stalled job
 * while its first worker still lives (frozen after its COMMIT for longer than the job lock); a
 * transient error after COMMIT is retried within the same run and finds the job's own write; a
 * first worker killed after COMMIT never counted. In-process worker over a real SQLite PAS and the
 * tests' real Redis (the count's mark, count-once.ts).
 */

const clock = new LocalClock();
const LOCAL = 'https://trust.example/hospital-number';
const keyring = new Keyring(Keyring.generate('k1'), 'k1');

describe('a job whose write is found already committed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'replay-outcome-'));
  const pas = new SqlitePas({ path: join(dir, 'pas.db'), localPatientIdSystem: LOCAL });
  loadDemoDataSqlite(pas.db, generateDemoData({ slotCount: 10 }));
  const redis = new Redis(inject('redisUrl'));
  const prefix = `replay-${randomUUID()}`;
  afterAll(async () => {
    await pas.close();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  /** A worker (its own metrics) over `port`: the PAS, or a PAS whose writes fail after they commit. */
  const worker = (port: PasPort = pas) => {
    const metrics = createWorkerMetrics();
    const processor = createProcessor({ pas: port, logger, keyring, localPatientIdSystem: LOCAL, scheduleIdSystem: DEFAULT_SCHEDULE_ID_SYSTEM, maxRetries: 3, writeRetryBudgetMs: 10_000, readRetryBudgetMs: 10_000, onReply: metrics.reply, claimCount: countOnce(redis, prefix) });
    /** Runs the job as BullMQ would: first run, or (rerun) the same job id again after a stall. */
    const run = async (job: PasJob, jobId: string, rerun = false): Promise<WorkerReply> => {
      const bullJob = { id: jobId, name: job.kind, attemptsStarted: rerun ? 2 : 1, stalledCounter: rerun ? 1 : 0, timestamp: Date.now(), data: encodeJob(job, jobId, Date.now() + 60_000, keyring) };
      return decodeReply(await processor(bullJob as unknown as Job), jobId, keyring);
    };
    const outcome = async (name: string) => metricValue(await metrics.registry.metrics(), 'booking_outcomes_total', { outcome: name });
    return { run, outcome };
  };
  /** The PAS, whose first book and first cancel commit and then throw `error` (the answer to the COMMIT lost). */
  const losingTheFirstAnswer = (error: () => Error): PasPort => {
    const lost = { book: false, cancel: false };
    return Object.assign(Object.create(pas) as PasPort, {
      book: async (command: Parameters<PasPort['book']>[0]) => {
        const result = await pas.book(command);
        if (lost.book) return result;
        lost.book = true;
        throw error();
      },
      cancel: async (command: Parameters<PasPort['cancel']>[0]) => {
        const result = await pas.cancel(command);
        if (lost.cancel) return result;
        lost.cancel = true;
        throw error();
      },
    });
  };
  const freeSlot = () => {
    const row = pas.db.prepare(`SELECT SLOT_ID, SLOT_GUID, START_DTTM, END_DTTM, CLINIC_CODE FROM CLINIC_SLOT WHERE SLOT_STATUS='F' AND START_DTTM > datetime('now','+1 hour') ORDER BY SLOT_ID LIMIT 1`).get() as { SLOT_ID: number; SLOT_GUID: string; START_DTTM: string; END_DTTM: string; CLINIC_CODE: string };
    return { id: String(row.SLOT_ID), identifier: row.SLOT_GUID, schedule: `Schedule/${row.CLINIC_CODE}`, start: clock.toInstant(row.START_DTTM), end: clock.toInstant(row.END_DTTM) };
  };
  const bookJob = (): PasJob => ({ kind: 'book', traceRequestId: randomUUID(), requestId: randomUUID(), appointment: bookingBody(freeSlot()) as never });
  const cancelJob = (booked: WorkerReply): PasJob => {
    const { id, resource } = booked as Extract<WorkerReply, { type: 'resource' }>;
    return { kind: 'cancel', traceRequestId: randomUUID(), requestId: randomUUID(), appointmentId: id, ifMatch: 'W/"1"', appointment: { ...resource, status: 'cancelled' } as never };
  };

  it('a stalled re-run after a first run that counted: the same 201 and 200 again, counted as replayed (not a second booked or cancelled), logged at info as a replay', async () => {
    // Two workers, as in production: the first run's and the re-run's counters are not the same.
    const first = worker();
    const second = worker();
    const book = bookJob();
    const bookJobId = randomUUID();
    const booked = await first.run(book, bookJobId);
    const again = await second.run(book, bookJobId, true);
    expect(booked).toMatchObject({ type: 'resource', status: 201, versionId: '1' });
    expect(again).toMatchObject({ type: 'resource', status: 201, id: (booked as { id: string }).id, versionId: '1' });
    expect([await first.outcome('booked'), await first.outcome('replayed'), await second.outcome('booked'), await second.outcome('replayed')]).toEqual([1, 0, 0, 1]);
    const replayLine = lines.find((l) => l.jobId === bookJobId && /replay/.test(String(l.msg)));
    expect(replayLine).toMatchObject({ level: 30, msg: expect.stringMatching(/replay of work already done/), countedBefore: true });

    const cancel = cancelJob(booked);
    const cancelJobId = randomUUID();
    expect(await first.run(cancel, cancelJobId)).toMatchObject({ type: 'resource', status: 200, versionId: '2' });
    expect(await second.run(cancel, cancelJobId, true)).toMatchObject({ type: 'resource', status: 200, versionId: '2' });
    expect([await first.outcome('cancelled'), await second.outcome('cancelled'), await second.outcome('replayed')]).toEqual([1, 0, 2]);

    // Another job reusing the X-Request-ID is still a 409 duplicate, not a replay.
    expect(await first.run(book, randomUUID())).toMatchObject({ type: 'problem', problem: { status: 409 } });
    expect([await first.outcome('booked'), await first.outcome('duplicate'), await first.outcome('replayed')]).toEqual([1, 1, 0]);
  });

  it("a transient error after COMMIT, retried in the same run, finds the job's own write: counted as booked and cancelled, not replayed", async () => {
    const w = worker(losingTheFirstAnswer(() => new TransientPasError('Connection lost - read ECONNRESET (after COMMIT)')));
    const booked = await w.run(bookJob(), randomUUID());
    expect(booked).toMatchObject({ type: 'resource', status: 201, versionId: '1' });
    expect(await w.run(cancelJob(booked), randomUUID())).toMatchObject({ type: 'resource', status: 200, versionId: '2' });
    expect([await w.outcome('booked'), await w.outcome('cancelled'), await w.outcome('replayed')]).toEqual([1, 1, 0]);
  });

  it('a re-run after a first run that stopped after COMMIT without replying (never counted): counted as booked and cancelled', async () => {
    // The first worker dies after its COMMIT, before it answers: here its PAS call throws instead.
    const killed = worker(losingTheFirstAnswer(() => new Error('worker killed after COMMIT')));
    const rerun = worker();
    const book = bookJob();
    const bookJobId = randomUUID();
    await expect(killed.run(book, bookJobId)).rejects.toThrow('killed');
    const booked = await rerun.run(book, bookJobId, true);
    expect(booked).toMatchObject({ type: 'resource', status: 201, versionId: '1' });
    const cancel = cancelJob(booked);
    const cancelJobId = randomUUID();
    await expect(killed.run(cancel, cancelJobId)).rejects.toThrow('killed');
    expect(await rerun.run(cancel, cancelJobId, true)).toMatchObject({ type: 'resource', status: 200, versionId: '2' });
    expect([await killed.outcome('booked'), await killed.outcome('cancelled')]).toEqual([0, 0]);
    expect([await rerun.outcome('booked'), await rerun.outcome('cancelled'), await rerun.outcome('replayed')]).toEqual([1, 1, 0]);
  });
});

describe('the count when Redis fails', () => {
  it('counts the write (booked or cancelled) when the mark cannot be set or Redis does not answer in time', async () => {
    expect(await countOnce({ set: () => Promise.reject(new Error('ECONNRESET')) } as never, 'p')('job-1')).toBe(true);
    expect(await countOnce({ set: () => new Promise(() => {}) } as never, 'p', 10)('job-1')).toBe(true);
  });
});
