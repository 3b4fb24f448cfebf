import { TransientPasError, WriteDeadlinePassedError } from '@booking/pas';
import { describe, expect, it } from 'vitest';
import { workerSchema } from '../src/config.js';
import { backoffMs, createPasRetry, DEADLINE_MARGIN_MS, DeadlinePassedError, isWriteJob, type RetryClock } from '../src/retry.js';

/** A clock that only moves when the code under test sleeps: no real waiting. */
function fakeClock(random = 0.5): RetryClock & { waits: number[]; elapsed: () => number } {
  let now = 1_000_000;
  const waits: number[] = [];
  return {
    waits,
    now: () => now,
    sleep: async (ms) => {
      waits.push(ms);
      now += ms;
    },
    random: () => random,
    elapsed: () => now - 1_000_000,
  };
}

/** A PAS call that fails transiently until `until` ms of fake time have passed, then succeeds. */
function outage(clock: ReturnType<typeof fakeClock>, until: number) {
  let calls = 0;
  return {
    calls: () => calls,
    run: async () => {
      calls++;
      if (clock.elapsed() < until) throw new TransientPasError('SQL Server PAS unavailable for now: The service is currently busy (40501)');
      return 'booked';
    },
  };
}

describe('PAS retries', () => {
  it('rides out an Azure SQL reconfiguration of ~50 s on a write, within the 60 s default budget', async () => {
    const clock = fakeClock();
    const fault = outage(clock, 50_000);
    const retry = createPasRetry({ maxRetries: 30, budgetMs: 60_000 }, undefined, clock);
    await expect(retry(fault.run)).resolves.toBe('booked');
    expect(clock.elapsed()).toBeGreaterThanOrEqual(50_000);
    expect(clock.elapsed()).toBeLessThanOrEqual(60_000);
  });

  it('gives a read a shorter budget and then fails with the transient error', async () => {
    const clock = fakeClock();
    const fault = outage(clock, 50_000);
    const retry = createPasRetry({ maxRetries: 30, budgetMs: 10_000 }, undefined, clock);
    await expect(retry(fault.run)).rejects.toThrow(/40501/);
    // It waited its whole budget (the last wait is cut to end on it) and not a millisecond more.
    expect(clock.elapsed()).toBe(10_000);
  });

  it('shares one budget across every PAS call of a job', async () => {
    const clock = fakeClock();
    const retry = createPasRetry({ maxRetries: 30, budgetMs: 10_000 }, undefined, clock);
    await expect(retry(outage(clock, 8_000).run)).resolves.toBe('booked');
    // The second call of the same job has only the ~2 s left.
    await expect(retry(outage(clock, 60_000).run)).rejects.toBeInstanceOf(TransientPasError);
    expect(clock.elapsed()).toBe(10_000);
  });

  it("never starts an attempt at or after the job's deadline, whatever budget is left", async () => {
    const clock = fakeClock();
    const fault = outage(clock, 50_000);
    const started: number[] = [];
    const deadline = clock.now() + 10_000; // the facade's job timeout, far inside the 60 s write budget
    const retry = createPasRetry({ maxRetries: 30, budgetMs: 60_000, deadline }, undefined, clock);
    const run = () => {
      started.push(clock.now());
      return fault.run();
    };
    const error = await retry(run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlinePassedError);
    expect((error as DeadlinePassedError).lastError?.message).toMatch(/40501/);
    expect(started.length).toBeGreaterThan(1);
    expect(Math.max(...started)).toBeLessThan(deadline);
    // It gives up as soon as the next attempt could not start in time, rather than sleeping to the deadline.
    expect(clock.now()).toBeLessThan(deadline);
  });

  it('meets a fault that clears before the deadline with one more attempt, however the back-off falls', async () => {
    // Deadline 10 s (the default job timeout), the PAS back at 7 s: the back-off at median jitter
    // would next try at ~9.7 s, past the last start the margin allows; the wait is shortened instead.
    for (const jitter of [0, 0.5, 0.99]) {
      const clock = fakeClock(jitter);
      const fault = outage(clock, 7_000);
      const deadline = clock.now() + 10_000;
      const retry = createPasRetry({ maxRetries: 30, budgetMs: 60_000, deadline }, undefined, clock);
      await expect(retry(fault.run), `jitter ${jitter}`).resolves.toBe('booked');
      expect(clock.now()).toBeLessThanOrEqual(deadline - DEADLINE_MARGIN_MS);
    }
  });

  it("refuses a later PAS call of the same job once the deadline has passed, without running it", async () => {
    const clock = fakeClock();
    const deadline = clock.now() + 1_000;
    const retry = createPasRetry({ maxRetries: 30, budgetMs: 60_000, deadline }, undefined, clock);
    await expect(retry(async () => 'read')).resolves.toBe('read');
    await clock.sleep(1_000); // the first call took the job past its deadline
    let ran = false;
    await expect(
      retry(async () => {
        ran = true;
        return 'written';
      }),
    ).rejects.toBeInstanceOf(DeadlinePassedError);
    expect(ran).toBe(false);
  });

  it('answers a write the PAS rolled back for its deadline as the deadline, with no further attempt', async () => {
    const clock = fakeClock();
    let calls = 0;
    const retry = createPasRetry({ maxRetries: 30, budgetMs: 60_000, deadline: clock.now() + 10_000 }, undefined, clock);
    const late = retry(async () => {
      calls++;
      // Its transaction began only after the deadline (queued behind the connection or a lock).
      throw new WriteDeadlinePassedError(clock.now());
    });
    await expect(late).rejects.toBeInstanceOf(DeadlinePassedError);
    await expect(late).rejects.toThrow(/rolled back/);
    expect(calls).toBe(1);
    expect(clock.waits).toEqual([]);
  });

  it('backs off exponentially with jitter, capped', () => {
    const policy = { maxRetries: 30, budgetMs: 60_000 };
    expect([1, 2, 3, 4].map((a) => backoffMs(a, policy, 0.5))).toEqual([50, 100, 200, 400]);
    expect(backoffMs(20, policy, 0.5)).toBe(5000);
    expect(backoffMs(20, policy, 0)).toBe(2500);
    expect(backoffMs(20, policy, 0.999)).toBeLessThan(7500);
    const clock = fakeClock(0.5);
    const retry = createPasRetry(policy, undefined, clock);
    return retry(outage(clock, 1_000).run).then(() => expect(clock.waits.slice(0, 5)).toEqual([50, 100, 200, 400, 800]));
  });

  it('stops after maxRetries even with budget left, and reports each retry', async () => {
    const clock = fakeClock();
    const fault = outage(clock, 60_000);
    const seen: number[] = [];
    const retry = createPasRetry({ maxRetries: 2, budgetMs: 60_000 }, (attempt) => seen.push(attempt), clock);
    await expect(retry(fault.run)).rejects.toThrow(/40501/);
    expect(fault.calls()).toBe(3);
    expect(seen).toEqual([1, 2]);
  });

  it('never retries other errors', async () => {
    const clock = fakeClock();
    let calls = 0;
    const retry = createPasRetry({ maxRetries: 30, budgetMs: 60_000 }, undefined, clock);
    await expect(
      retry(async () => {
        calls++;
        throw new Error('Invalid column name');
      }),
    ).rejects.toThrow(/Invalid column/);
    expect(calls).toBe(1);
    expect(clock.waits).toEqual([]);
  });

  it('gives writes (book, cancel) the write budget and everything else the read budget; defaults 60 s and 10 s', () => {
    expect(['book', 'cancel'].map(isWriteJob)).toEqual([true, true]);
    expect(['read', 'search-slot', 'search-appointment', 'noop', undefined].map(isWriteJob)).toEqual([false, false, false, false, false]);
    const defaults = workerSchema.pick({ PAS_WRITE_RETRY_BUDGET_MS: true, PAS_READ_RETRY_BUDGET_MS: true, PAS_MAX_RETRIES: true }).parse({});
    expect(defaults).toEqual({ PAS_WRITE_RETRY_BUDGET_MS: 60_000, PAS_READ_RETRY_BUDGET_MS: 10_000, PAS_MAX_RETRIES: 30 });
    // The default retry count must not cut the write budget short: 30 retries at the mean back-off last well over 60 s.
    const policy = { maxRetries: 30, budgetMs: 60_000 };
    const total = Array.from({ length: policy.maxRetries }, (_, i) => backoffMs(i + 1, policy, 0)).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(policy.budgetMs);
  });
});
