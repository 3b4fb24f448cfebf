import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_SCHEDULE_ID_SYSTEM } from '@booking/fhir';
import { generateDemoData, LocalClock, type PasPort, TransientPasError } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import { decodeReply, encodeJob, Keyring } from '@booking/queue';
import type { Job } from 'bullmq';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createWorkerMetrics } from '../apps/worker/src/observability/metrics.js';
import { createProcessor, type ProcessorDeps, timeRanOut } from '../apps/worker/src/processor.js';
import { DEADLINE_MARGIN_MS } from '../apps/worker/src/retry.js';
import { bookingBody } from './support/consumer.js';
import { metricValue } from './support/prometheus.js';

/**
 * A booking whose PAS fails transiently (an Azure SQL failover) must not be retried past the job's
 * deadline: by then the facade has answered 500 "outcome unknown" and the consumer may have booked
 * another slot under a new X-Request-ID, so a late attempt would make a second appointment.
 * In-process worker over a real SQLite PAS.
 */

const clock = new LocalClock();
const LOCAL = 'https://trust.example/hospital-number';
const keyring = new Keyring(Keyring.generate('k1'), 'k1');

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe("a write job's PAS retries stop at its deadline", () => {
  const dir = mkdtempSync(join(tmpdir(), 'worker-deadline-'));
  const pas = new SqlitePas({ path: join(dir, 'pas.db'), localPatientIdSystem: LOCAL });
  loadDemoDataSqlite(pas.db, generateDemoData({ slotCount: 10 }));
  afterAll(async () => {
    await pas.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let slotsTaken = 0;
  /** A free future slot no other case of this file uses, as a booking body's contained Slot wants it. */
  const freeSlot = () => {
    const row = pas.db.prepare(`SELECT SLOT_ID, SLOT_GUID, START_DTTM, END_DTTM, CLINIC_CODE FROM CLINIC_SLOT WHERE SLOT_STATUS='F' AND START_DTTM > datetime('now','+1 hour') ORDER BY SLOT_ID LIMIT 1 OFFSET ?`).get(slotsTaken++) as { SLOT_ID: number; SLOT_GUID: string; START_DTTM: string; END_DTTM: string; CLINIC_CODE: string };
    return { row, slot: { id: String(row.SLOT_ID), identifier: row.SLOT_GUID, schedule: `Schedule/${row.CLINIC_CODE}`, start: clock.toInstant(row.START_DTTM), end: clock.toInstant(row.END_DTTM) } };
  };
  const slotStatus = (slotId: number) => (pas.db.prepare('SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_ID = ?').get(slotId) as { SLOT_STATUS: string }).SLOT_STATUS;
  const processorDeps = (port: PasPort, logger: unknown = pino({ level: 'silent' }), onReply?: ProcessorDeps['onReply']): ProcessorDeps => ({ pas: port, logger: logger as never, keyring, localPatientIdSystem: LOCAL, scheduleIdSystem: DEFAULT_SCHEDULE_ID_SYSTEM, maxRetries: 30, writeRetryBudgetMs: 60_000, readRetryBudgetMs: 10_000, ...(onReply ? { onReply } : {}) });
  const processorOver = (port: PasPort, logger?: unknown, onReply?: ProcessorDeps['onReply']) => createProcessor(processorDeps(port, logger, onReply));
  const bookJob = (slot: ReturnType<typeof freeSlot>['slot'], deadline: number, fields: Record<string, unknown> = {}) => {
    const jobId = randomUUID();
    return { id: jobId, attemptsStarted: 1, stalledCounter: 0, ...fields, data: encodeJob({ kind: 'book', traceRequestId: randomUUID(), requestId: randomUUID(), appointment: bookingBody(slot) as never }, jobId, deadline, keyring) } as unknown as Job & { id: string };
  };

  it('leaves the slot free and replies "outcome unknown" when the PAS recovers only after the deadline, within the write budget', async () => {
    const { row, slot } = freeSlot();
    const deadline = Date.now() + 1500; // the facade's JOB_TIMEOUT_MS (10 s by default; short here)
    let attempts = 0;
    let lateAttempts = 0;
    // The PAS answers "reconfiguring" until a second after the deadline, well inside the 60 s write budget.
    const failingOver: PasPort = new Proxy(pas as unknown as PasPort, {
      get(target, prop, receiver) {
        if (prop === 'book') {
          return async (command: Parameters<PasPort['book']>[0]) => {
            attempts++;
            if (Date.now() >= deadline) lateAttempts++;
            if (Date.now() < deadline + 1000) throw new TransientPasError('40197 the service is reconfiguring');
            return target.book(command);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { logger, lines } = capturingLogger();
    const job = bookJob(slot, deadline);
    const reply = decodeReply(await processorOver(failingOver, logger)(job as never), job.id, keyring);

    expect(attempts).toBeGreaterThan(1); // it did retry inside the deadline
    expect(lateAttempts).toBe(0);
    expect(reply).toMatchObject({ type: 'problem', problem: { status: 500 } });
    expect(slotStatus(row.SLOT_ID)).toBe('F');
    // The driver's words stay in the worker's log (with the job's ids); the consumer, reached
    // through the SSP, is told a fixed text (SQL Server's would name hosts, ports, databases).
    expect(JSON.stringify(reply)).not.toMatch(/40197|reconfiguring/);
    expect(JSON.stringify(reply)).toMatch(/same X-Request-ID/);
    expect(lines.find((l) => l.msg === 'job reached its deadline: no further PAS attempt')).toMatchObject({ jobId: job.id, kind: 'book', err: expect.stringMatching(/40197/) });
  });

  it('writes nothing when the booking\'s PAS transaction begins after the deadline (queued behind other work or a lock), and gives the deadline answer', async () => {
    const { row, slot } = freeSlot();
    const deadline = Date.now() + 200;
    // The PAS call starts in time; its transaction begins only once the deadline has passed.
    const queued: PasPort = new Proxy(pas as unknown as PasPort, {
      get(target, prop, receiver) {
        if (prop === 'book') {
          return async (command: Parameters<PasPort['book']>[0]) => {
            while (Date.now() <= deadline) await sleep(deadline - Date.now() + 1);
            return target.book(command);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const job = bookJob(slot, deadline);
    const reply = decodeReply(await processorOver(queued)(job as never), job.id, keyring);
    expect(slotStatus(row.SLOT_ID)).toBe('F');
    expect(pas.db.prepare('SELECT COUNT(*) AS n FROM booking_REQUEST_LOG').get()).toEqual({ n: 0 });
    expect(reply).toMatchObject({ type: 'problem', problem: { status: 500, diagnostics: timeRanOut('book') } });
  });

  it('writes nothing when less than the commit margin is left before the deadline, though the PAS is free: the COMMIT and the reply need that time', async () => {
    const { row, slot } = freeSlot();
    // The facade answers "outcome unknown" at the deadline; a COMMIT sent just before it could land after.
    const job = bookJob(slot, Date.now() + DEADLINE_MARGIN_MS / 2);
    const reply = decodeReply(await processorOver(pas)(job as never), job.id, keyring);
    expect(slotStatus(row.SLOT_ID)).toBe('F');
    expect(pas.db.prepare('SELECT COUNT(*) AS n FROM booking_REQUEST_LOG').get()).toEqual({ n: 0 });
    expect(reply).toMatchObject({ type: 'problem', problem: { status: 500, diagnostics: timeRanOut('book') } });
  });

  it("reads the job's deadline on the queue clock it is given (Redis's), not this host's: a job this host's clock calls expired is run", async () => {
    const { row, slot } = freeSlot();
    // This host's clock is a minute ahead of Redis's: the deadline the facade stamped is 5 s off on Redis's clock.
    const queueNow = () => Date.now() - 60_000;
    const job = bookJob(slot, queueNow() + 5_000);
    const reply = decodeReply(await createProcessor({ ...processorDeps(pas), now: queueNow })(job as never), job.id, keyring);
    expect(reply).toMatchObject({ type: 'resource', status: 201 });
    expect(slotStatus(row.SLOT_ID)).toBe('B');
  });

  it('checks the deadline on the queue clock inside the PAS transaction too: past it there, nothing is written', async () => {
    const { row, slot } = freeSlot();
    // The queue clock (a minute ahead of this host's) moves only when told; on this host's clock the
    // deadline stays a minute away, so only a check on the queue clock can stop the COMMIT.
    let queueTime = Date.now() + 60_000;
    const job = bookJob(slot, queueTime + 10_000);
    const late: PasPort = new Proxy(pas as unknown as PasPort, {
      get(target, prop, receiver) {
        if (prop === 'book') {
          return async (command: Parameters<PasPort['book']>[0]) => {
            queueTime += 10_000; // the transaction begins (the lock wait ends) past the deadline
            return target.book(command);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const reply = decodeReply(await createProcessor({ ...processorDeps(late), now: () => queueTime })(job as never), job.id, keyring);
    expect(reply).toMatchObject({ type: 'problem', problem: { status: 500, diagnostics: timeRanOut('book') } });
    expect(slotStatus(row.SLOT_ID)).toBe('F');
  });

  it("does not call the outcome of a job re-run after its worker stopped \"nothing was done\": the first run may have booked", async () => {
    const { slot } = freeSlot();
    const { logger, lines } = capturingLogger();
    // BullMQ handed the job on after its first worker was killed (perhaps after COMMIT); its time has run out.
    const rerun = bookJob(slot, Date.now() - 1, { attemptsStarted: 2, stalledCounter: 1 });
    const reply = decodeReply(await processorOver(pas as unknown as PasPort, logger)(rerun as never), rerun.id, keyring);
    expect(reply).toMatchObject({ type: 'problem', problem: { status: 500 } });
    const diagnostics = (reply as { problem: { diagnostics: string } }).problem.diagnostics;
    expect(diagnostics).not.toMatch(/nothing was done/);
    expect(diagnostics).toMatch(/not run again.*first run's outcome is unknown.*same X-Request-ID/);
    expect(lines.find((l) => l.jobId === rerun.id && l.level === 40)?.msg).toMatch(/not run again; the first run's outcome is unknown/);

    // A job no worker ever started did nothing, and says so.
    const fresh = bookJob(freeSlot().slot, Date.now() - 1);
    const freshReply = decodeReply(await processorOver(pas as unknown as PasPort)(fresh as never), fresh.id, keyring);
    expect((freshReply as { problem: { diagnostics: string } }).problem.diagnostics).toMatch(/nothing was done/);
  });

  it('counts every book reply in booking_outcomes_total, booking_jobs_processed_total and booking_jobs_not_run_total, those of jobs not run included', async () => {
    const metrics = createWorkerMetrics();
    const processor = processorOver(pas as unknown as PasPort, undefined, metrics.reply);
    const expired = bookJob(freeSlot().slot, Date.now() - 1);
    await processor(expired as never);
    const undecodable = bookJob(freeSlot().slot, Date.now() + 60_000);
    (undecodable.data as { sealed: unknown }).sealed = encodeJob({ kind: 'noop', traceRequestId: 'x' } as never, 'another-job', Date.now(), keyring).sealed;
    await processor(undecodable as never);
    const deadline = Date.now() + 100;
    const gaveUp = bookJob(freeSlot().slot, deadline);
    const failing: PasPort = new Proxy(pas as unknown as PasPort, {
      get(target, prop, receiver) {
        if (prop === 'book') return async () => {
          throw new TransientPasError('SQLite PAS is busy (SQLITE_BUSY)');
        };
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await processorOver(failing, undefined, metrics.reply)(gaveUp as never);
    const text = await metrics.registry.metrics();
    expect(metricValue(text, 'booking_outcomes_total', { outcome: 'expired' })).toBe(2);
    expect(metricValue(text, 'booking_outcomes_total', { outcome: 'undecodable' })).toBe(1);
    expect(metricValue(text, 'booking_outcomes_total')).toBe(3);
    expect(metricValue(text, 'booking_jobs_processed_total', { kind: 'book', result: 'problem' })).toBe(3);
    // The same, for on-call's alerts, by kind: every job answered without being run.
    expect(metricValue(text, 'booking_jobs_not_run_total', { kind: 'book', reason: 'expired' })).toBe(2);
    expect(metricValue(text, 'booking_jobs_not_run_total', { kind: 'book', reason: 'undecodable' })).toBe(1);
    expect(text).toContain('booking_jobs_not_run_total{kind="read",reason="undecodable"} 0');
  });
});
