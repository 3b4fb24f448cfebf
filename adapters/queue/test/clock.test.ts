import { describe, expect, it, vi } from 'vitest';
import { CLOCK_BACKWARD_TOLERANCE_MS, type ClockSource, clockWarnings, QueueClock, reportClock } from '../src/clock.js';

/** A Redis whose clock reads `redisAhead` ms ahead of this process's monotonic clock; each TIME takes the next round trip of `trips`, Redis reading its clock halfway. */
function fakeRedis(local: { t: number }, redisAhead: number, trips: number[]): ClockSource {
  let i = 0;
  return {
    async time() {
      const trip = trips[i++ % trips.length] ?? 0;
      local.t += trip / 2;
      const redisMs = local.t + redisAhead;
      local.t += trip / 2;
      return [String(Math.floor(redisMs / 1000)), String(Math.round((redisMs % 1000) * 1000))];
    },
  };
}

describe('QueueClock (Redis time, estimated locally)', () => {
  it("reads Redis's time, not this host's, from the sample with the smallest round trip", async () => {
    const local = { t: 1_000_000 };
    // The host's wall clock is 3 s ahead of Redis; the monotonic clock's origin says nothing of either.
    const clock = new QueueClock(fakeRedis(local, 50_000, [400, 30, 10, 200, 90]), { monotonic: () => local.t, wall: () => local.t + 53_000 });
    await clock.measure();
    expect(clock.now()).toBeCloseTo(local.t + 50_000, 0);
  });

  it("keeps its reading when this host's wall clock steps", async () => {
    const local = { t: 5_000 };
    let wallStep = 0;
    const clock = new QueueClock(fakeRedis(local, 1_000, [2]), { monotonic: () => local.t, wall: () => local.t + wallStep });
    await clock.measure();
    const before = clock.now();
    wallStep = -3_600_000; // the host's clock goes back an hour
    local.t += 100;
    expect(clock.now()).toBeCloseTo(before + 100, 0);
  });

  it('reports how far the wall clock is off, and reads the wall clock only until first measured', async () => {
    const local = { t: 0 };
    const onMeasured = vi.fn();
    const clock = new QueueClock(fakeRedis(local, 0, [4]), { monotonic: () => local.t, wall: () => local.t + 11_000, onMeasured });
    expect(clock.isMeasured).toBe(false);
    expect(clock.now()).toBe(11_000);
    await clock.measure();
    expect(clock.isMeasured).toBe(true);
    expect(onMeasured).toHaveBeenCalledWith({ wallOffsetMs: -11_000, roundTripMs: 4 });
    await expect(clock.measured).resolves.toBeUndefined();
  });

  it('survives a Redis that does not answer, and is measured once it does', async () => {
    const local = { t: 0 };
    const redis = fakeRedis(local, 7_000, [2]);
    let down = true;
    const onError = vi.fn();
    const clock = new QueueClock({ time: () => (down ? new Promise<never>(() => {}) : redis.time()) }, { monotonic: () => local.t, wall: () => local.t, sampleLimitMs: 5, onError });
    await clock.measure();
    expect(onError).toHaveBeenCalledOnce();
    expect(clock.isMeasured).toBe(false);
    down = false;
    await clock.measure();
    expect(clock.now()).toBeCloseTo(local.t + 7_000, 0);
  });

  it('reports a failure once per change of error (TIME refused every second is one log line), and keeps the last for readiness', async () => {
    const local = { t: 0 };
    const redis = fakeRedis(local, 0, [2]);
    let refusal: Error | undefined = new Error("NOPERM User booking has no permissions to run the 'time' command");
    const onError = vi.fn();
    const clock = new QueueClock({ time: () => (refusal ? Promise.reject(refusal) : redis.time()) }, { monotonic: () => local.t, wall: () => local.t, onError });
    for (let i = 0; i < 5; i++) await clock.measure();
    expect(onError).toHaveBeenCalledOnce();
    expect(clock.lastError?.message).toMatch(/^NOPERM/);
    refusal = new Error('Redis did not answer TIME within 1000 ms');
    await clock.measure();
    await clock.measure();
    expect(onError).toHaveBeenCalledTimes(2);
    refusal = undefined;
    await clock.measure();
    expect(clock.lastError).toBeUndefined();
    expect(clock.isMeasured).toBe(true);
  });
});

describe('QueueClock.start', () => {
  it('measures a connection still connecting on its first ready, not before (a refusal then would be logged for nothing)', async () => {
    const local = { t: 0 };
    const redis = fakeRedis(local, 4_000, [2]);
    let ready = false;
    const onError = vi.fn();
    const listeners: (() => void)[] = [];
    const connection = { status: 'connecting', on: (_: 'ready', listener: () => void) => listeners.push(listener) };
    const clock = new QueueClock({ time: () => (ready ? redis.time() : Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"))) }, { monotonic: () => local.t, wall: () => local.t, onError, refreshMs: 3_600_000 }).start(connection);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      ready = true;
      connection.status = 'ready';
      for (const listener of listeners) listener();
      await clock.measured;
      expect(onError).not.toHaveBeenCalled();
      expect(clock.now()).toBeCloseTo(local.t + 4_000, 0);
    } finally {
      clock.stop();
    }
  });
});

describe('QueueClock: a measurement never moves the estimate back by more than a little', () => {
  /** A Redis whose clock can be swapped (a failover), and whose replies can be read `late` ms after Redis answered (a stalled event loop). */
  function switchable(local: { t: number }) {
    const state = { ahead: 0, trip: 2, late: 0 };
    const source: ClockSource = {
      async time() {
        local.t += state.trip / 2;
        const redisMs = local.t + state.ahead;
        local.t += state.trip / 2 + state.late;
        return [String(Math.floor(redisMs / 1000)), String(Math.round((redisMs % 1000) * 1000))];
      },
    };
    return { state, source };
  }

  it("keeps its estimate, and says so once, after a failover to a primary whose clock is 3 s behind: a worker gets no more time than the facade gave", async () => {
    const local = { t: 1_000_000 };
    const { state, source } = switchable(local);
    const onHeldBack = vi.fn();
    const clock = new QueueClock(source, { monotonic: () => local.t, wall: () => local.t, onHeldBack });
    await clock.measure();
    const deadline = clock.now() + 3000; // stamped by a facade on the old primary's clock
    state.ahead = -3000; // failover
    await clock.measure();
    await clock.measure();
    local.t += 3000;
    // The deadline is reached when 3 s have passed here, not 3 s later.
    expect(clock.now()).toBeGreaterThanOrEqual(deadline);
    expect(onHeldBack).toHaveBeenCalledOnce();
    expect(onHeldBack.mock.calls[0]?.[0]).toBeCloseTo(3000, -1);
  });

  it('does not take a measurement whose replies were all read 900 ms late (a stalled event loop) in place of a good one', async () => {
    const local = { t: 1_000_000 };
    const { state, source } = switchable(local);
    const clock = new QueueClock(source, { monotonic: () => local.t, wall: () => local.t });
    await clock.measure();
    const before = clock.now() - local.t;
    state.late = 900;
    await clock.measure();
    expect(clock.now() - local.t - before).toBeGreaterThanOrEqual(-CLOCK_BACKWARD_TOLERANCE_MS);
  });

  it('applies a small correction back, any move forward, and warns again only after an estimate was applied in between', async () => {
    const local = { t: 1_000_000 };
    const { state, source } = switchable(local);
    const onHeldBack = vi.fn();
    const clock = new QueueClock(source, { monotonic: () => local.t, wall: () => local.t, onHeldBack });
    await clock.measure();
    state.ahead = -20; // within the tolerance: a better sample, or drift
    await clock.measure();
    expect(clock.now() - local.t).toBeCloseTo(-20, 0);
    state.ahead = 2000; // a primary ahead: deadlines come nearer for a worker
    await clock.measure();
    expect(clock.now() - local.t).toBeCloseTo(2000, 0);
    state.ahead = 0;
    await clock.measure();
    await clock.measure();
    expect(onHeldBack).toHaveBeenCalledOnce();
    state.ahead = 2000;
    await clock.measure();
    state.ahead = 0;
    await clock.measure();
    expect(onHeldBack).toHaveBeenCalledTimes(2);
  });

  it('logs the held-back measurement as a warning that asks for synchronised Redis clocks', () => {
    const log = { warn: vi.fn() };
    clockWarnings(log).onHeldBack?.(3012.4);
    expect(log.warn).toHaveBeenCalledWith({ redisEarlierMs: 3012 }, expect.stringMatching(/^Redis's clock reads 3012 ms earlier than this process's estimate: a failover .*stalled measurement.*NTP/));
  });
});

describe('reportClock', () => {
  it('sets the gauge each time, warns once when the host clock goes over 1 s off, and says when it is back', () => {
    const log = { warn: vi.fn(), info: vi.fn() };
    const gauge = vi.fn();
    const report = reportClock(log, gauge);
    report({ wallOffsetMs: 200, roundTripMs: 1 });
    report({ wallOffsetMs: -3000, roundTripMs: 1 });
    report({ wallOffsetMs: -3000, roundTripMs: 1 });
    report({ wallOffsetMs: 100, roundTripMs: 1 });
    expect(gauge.mock.calls).toEqual([[0.2], [-3], [-3], [0.1]]);
    expect(log.warn).toHaveBeenCalledOnce();
    expect(log.info).toHaveBeenCalledOnce();
  });
});
