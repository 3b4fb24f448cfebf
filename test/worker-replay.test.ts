import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SCHEDULE_ID_SYSTEM } from '@booking/fhir';
import { generateDemoData, LocalClock } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import { decodeReply, encodeJob, Keyring, type PasJob, type WorkerReply } from '@booking/queue';
import type { Job } from 'bullmq';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createWorkerMetrics } from '../apps/worker/src/observability/metrics.js';
import { createProcessor } from '../apps/worker/src/processor.js';
import { bookingBody } from './support/consumer.js';
import { metricValue } from './support/prometheus.js';

/**
 * BullMQ re-runs a stalled job while its first worker still lives (frozen after its COMMIT for
 * longer than the job lock): both runs answer the same, but the dashboards must count one booking
 * (or cancellation) and one replay. In-process worker over a real SQLite PAS.
 */

const clock = new LocalClock();
const LOCAL = 'https://trust.example/hospital-number';
const keyring = new Keyring(Keyring.generate('k1'), 'k1');

describe('a job re-run after its first run committed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'replay-outcome-'));
  const pas = new SqlitePas({ path: join(dir, 'pas.db'), localPatientIdSystem: LOCAL });
  loadDemoDataSqlite(pas.db, generateDemoData({ slotCount: 10 }));
  afterAll(async () => {
    await pas.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const metrics = createWorkerMetrics();
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const processor = createProcessor({ pas, logger, keyring, localPatientIdSystem: LOCAL, scheduleIdSystem: DEFAULT_SCHEDULE_ID_SYSTEM, maxRetries: 3, writeRetryBudgetMs: 10_000, readRetryBudgetMs: 10_000, onReply: metrics.reply });
  /** Runs the job as BullMQ would: first run, then (rerun) the same job id again after a stall. */
  const run = async (job: PasJob, jobId: string, rerun = false): Promise<WorkerReply> => {
    const bullJob = { id: jobId, name: job.kind, attemptsStarted: rerun ? 2 : 1, stalledCounter: rerun ? 1 : 0, timestamp: Date.now(), data: encodeJob(job, jobId, Date.now() + 60_000, keyring) };
    return decodeReply(await processor(bullJob as unknown as Job), jobId, keyring);
  };
  const outcome = async (name: string) => metricValue(await metrics.registry.metrics(), 'booking_outcomes_total', { outcome: name });
  const freeSlot = () => {
    const row = pas.db.prepare(`SELECT SLOT_ID, SLOT_GUID, START_DTTM, END_DTTM, CLINIC_CODE FROM CLINIC_SLOT WHERE SLOT_STATUS='F' AND START_DTTM > datetime('now','+1 hour') ORDER BY SLOT_ID LIMIT 1`).get() as { SLOT_ID: number; SLOT_GUID: string; START_DTTM: string; END_DTTM: string; CLINIC_CODE: string };
    return { id: String(row.SLOT_ID), identifier: row.SLOT_GUID, schedule: `Schedule/${row.CLINIC_CODE}`, start: clock.toInstant(row.START_DTTM), end: clock.toInstant(row.END_DTTM) };
  };

  it('answers the same 201 and 200 again, counted as replayed (not a second booked or cancelled), logged at info as a replay', async () => {
    const book: PasJob = { kind: 'book', traceRequestId: randomUUID(), requestId: randomUUID(), appointment: bookingBody(freeSlot()) as never };
    const bookJobId = randomUUID();
    const first = await run(book, bookJobId);
    const again = await run(book, bookJobId, true);
    expect(first).toMatchObject({ type: 'resource', status: 201, versionId: '1' });
    expect(again).toMatchObject({ type: 'resource', status: 201, id: (first as { id: string }).id, versionId: '1' });
    expect([await outcome('booked'), await outcome('replayed')]).toEqual([1, 1]);
    const replayLine = lines.find((l) => l.jobId === bookJobId && /replay/.test(String(l.msg)));
    expect(replayLine).toMatchObject({ level: 30, msg: expect.stringMatching(/replay of work already done/) });

    const booked = first as Extract<WorkerReply, { type: 'resource' }>;
    const cancel: PasJob = { kind: 'cancel', traceRequestId: randomUUID(), requestId: randomUUID(), appointmentId: booked.id, ifMatch: 'W/"1"', appointment: { ...booked.resource, status: 'cancelled' } as never };
    const cancelJobId = randomUUID();
    expect(await run(cancel, cancelJobId)).toMatchObject({ type: 'resource', status: 200, versionId: '2' });
    expect(await run(cancel, cancelJobId, true)).toMatchObject({ type: 'resource', status: 200, versionId: '2' });
    expect([await outcome('cancelled'), await outcome('replayed')]).toEqual([1, 2]);

    // Another job reusing the X-Request-ID is still a 409 duplicate, not a replay.
    expect(await run(book, randomUUID())).toMatchObject({ type: 'problem', problem: { status: 409 } });
    expect([await outcome('booked'), await outcome('duplicate'), await outcome('replayed')]).toEqual([1, 1, 2]);
  });
});
