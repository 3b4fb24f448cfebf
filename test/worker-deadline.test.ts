import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SCHEDULE_ID_SYSTEM } from '@booking/fhir';
import { generateDemoData, LocalClock, type PasPort, TransientPasError } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import { decodeReply, encodeJob, Keyring } from '@booking/queue';
import type { Job } from 'bullmq';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createProcessor } from '../apps/worker/src/processor.js';
import { bookingBody } from './support/consumer.js';

/**
 * A booking whose PAS fails transiently (an Azure SQL failover) must not be retried past the job's
 * deadline: by then the facade has answered 500 "outcome unknown" and the consumer may have booked
 * another slot under a new X-Request-ID, so a late attempt would make a second appointment.
 * In-process worker over a real SQLite PAS.
 */

const clock = new LocalClock();
const LOCAL = 'https://trust.example/hospital-number';
const keyring = new Keyring(Keyring.generate('k1'), 'k1');

describe("a write job's PAS retries stop at its deadline", () => {
  const dir = mkdtempSync(join(tmpdir(), 'worker-deadline-'));
  const pas = new SqlitePas({ path: join(dir, 'pas.db'), localPatientIdSystem: LOCAL });
  loadDemoDataSqlite(pas.db, generateDemoData({ slotCount: 10 }));
  afterAll(async () => {
    await pas.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves the slot free and replies "outcome unknown" when the PAS recovers only after the deadline, within the write budget', async () => {
    const row = pas.db.prepare(`SELECT SLOT_ID, SLOT_GUID, START_DTTM, END_DTTM, CLINIC_CODE FROM CLINIC_SLOT WHERE SLOT_STATUS='F' AND START_DTTM > datetime('now','+1 hour') ORDER BY SLOT_ID LIMIT 1`).get() as { SLOT_ID: number; SLOT_GUID: string; START_DTTM: string; END_DTTM: string; CLINIC_CODE: string };
    const slot = { id: String(row.SLOT_ID), identifier: row.SLOT_GUID, schedule: `Schedule/${row.CLINIC_CODE}`, start: clock.toInstant(row.START_DTTM), end: clock.toInstant(row.END_DTTM) };
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
    const processor = createProcessor({ pas: failingOver, logger: pino({ level: 'silent' }) as never, keyring, localPatientIdSystem: LOCAL, scheduleIdSystem: DEFAULT_SCHEDULE_ID_SYSTEM, maxRetries: 30, writeRetryBudgetMs: 60_000, readRetryBudgetMs: 10_000 });
    const jobId = randomUUID();
    const job = { id: jobId, data: encodeJob({ kind: 'book', traceRequestId: randomUUID(), requestId: randomUUID(), appointment: bookingBody(slot) as never }, jobId, deadline, keyring) } as unknown as Job;
    const reply = decodeReply(await processor(job as never), jobId, keyring);

    expect(attempts).toBeGreaterThan(1); // it did retry inside the deadline
    expect(lateAttempts).toBe(0);
    expect(reply).toMatchObject({ type: 'problem', problem: { status: 500 } });
    const status = (pas.db.prepare('SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_ID = ?').get(row.SLOT_ID) as { SLOT_STATUS: string }).SLOT_STATUS;
    expect(status).toBe('F');
  });
});
