/**
 * The queue's clock: Redis's. A job's deadline is stamped by a facade and checked by a worker,
 * often on another host; read on each host's own wall clock, a facade ahead of its worker would let
 * the worker commit after the consumer was told "outcome unknown", and a worker ahead by more than
 * JOB_TIMEOUT_MS would refuse every job as expired. Every process instead reads Redis's clock
 * (the one server all of them share), estimated locally so that no request pays a round trip.
 *
 * The estimate is an offset from this process's monotonic clock (performance.now, as epoch ms), so
 * a step of this host's wall clock (NTP stepping, an operator's `date`) does not move it at all.
 * It is measured with TIME at start, after each reconnect (perhaps to another primary after a
 * failover) and every `refreshMs`, keeping of a few samples the one with the smallest round trip and
 * placing Redis's reading at its midpoint: the estimate is then off by at most half that round trip.
 *
 * A new measurement may move the estimate back only by CLOCK_BACKWARD_TOLERANCE_MS. Further back
 * would give a worker more time than its facade gave the job: after a failover to a primary whose
 * clock is behind, or from a measurement whose replies were all read late (event loop stalled),
 * whose midpoint then falls late. Such a measurement is not applied (the estimate held keeps
 * running on the monotonic clock) and is reported once (`onHeldBack`). Forward moves are applied:
 * for a worker they only bring deadlines nearer.
 */
export interface ClockSource {
  /** Redis TIME: [seconds, microseconds] (ioredis types them as numbers, and gives strings). */
  time(): Promise<(number | string)[]>;
}

/** One measurement, for metrics and logs. */
export interface ClockMeasurement {
  /** Redis's clock less this host's wall clock (ms): what the host's clock is off by, as seen from Redis. */
  wallOffsetMs: number;
  /** The round trip of the sample kept (ms): the estimate is off by at most half of it. */
  roundTripMs: number;
}

export interface QueueClockOptions {
  /** Samples per measurement; the one with the smallest round trip is kept. */
  samples?: number;
  refreshMs?: number;
  /** How long one TIME may take before the measurement is abandoned (the next one tries again). */
  sampleLimitMs?: number;
  onMeasured?: (measurement: ClockMeasurement) => void;
  /** A measurement failed; called once per change of error (a successful measurement resets it). */
  onError?: (error: Error) => void;
  /**
   * A measurement read Redis's clock more than CLOCK_BACKWARD_TOLERANCE_MS earlier than the estimate
   * held, and was not applied; called once until a measurement is applied again.
   */
  onHeldBack?: (earlierMs: number) => void;
  /** This process's clocks (tests replace them). */
  monotonic?: () => number;
  wall?: () => number;
}

const DEFAULT_SAMPLES = 5;
const DEFAULT_REFRESH_MS = 15_000;
const DEFAULT_SAMPLE_LIMIT_MS = 1000;
const RETRY_UNMEASURED_MS = 1000;
/** A host clock this far off Redis's is worth a warning: JWT checks (iat, exp) read the host's clock. */
export const CLOCK_WARN_MS = 1000;
/**
 * How far one measurement may move the estimate back (ms). Corrections between two good samples
 * (half their round trips, well under 10 ms on a LAN) and the monotonic clock's drift over a 15 s
 * refresh (~1 ms) are far below it; a failover to a Redis whose clock is behind, or a stalled
 * measurement, is not. Small next to DEADLINE_MARGIN_MS (0.5 s), which it eats into.
 */
export const CLOCK_BACKWARD_TOLERANCE_MS = 50;

/** This process's monotonic clock as epoch ms (its origin read once, at process start, from the wall clock). */
export const monotonicNow = (): number => performance.timeOrigin + performance.now();

export class QueueClock {
  /** Redis's time less monotonic time (ms); undefined until first measured. */
  private offsetMs: number | undefined;
  private measuring: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The last measurement's error, until one succeeds. */
  private failure: Error | undefined;
  /** Whether the last measurement was held back (not applied: it read Redis's clock too far back). */
  private heldBack = false;
  private readonly monotonic: () => number;
  private readonly wall: () => number;
  private resolveFirst!: () => void;
  /** Resolves once the clock has been measured (it keeps trying until then). */
  readonly measured: Promise<void>;

  constructor(
    private readonly source: ClockSource,
    private readonly options: QueueClockOptions = {},
  ) {
    this.monotonic = options.monotonic ?? monotonicNow;
    this.wall = options.wall ?? Date.now;
    this.measured = new Promise((resolve) => {
      this.resolveFirst = resolve;
    });
  }

  /**
   * Redis's time now (epoch ms), as estimated here. Until the first measurement this host's wall
   * clock stands in; the facade and the worker wait for `measured` before they stamp or run a job.
   */
  now(): number {
    return this.offsetMs === undefined ? this.wall() : this.monotonic() + this.offsetMs;
  }

  get isMeasured(): boolean {
    return this.offsetMs !== undefined;
  }

  /** Why the last measurement failed (undefined once one succeeds): readiness says it while not measured. */
  get lastError(): Error | undefined {
    return this.failure;
  }

  /**
   * Measures now and every `refreshMs` after; `reconnected` is the connection (ioredis), on whose
   * 'ready' it measures again. A connection still connecting is measured on its first 'ready'
   * instead of now: one without an offline queue (the facade's) would refuse TIME, and the log
   * would say so for nothing. Returns `this`.
   */
  start(reconnected?: { on(event: 'ready', listener: () => void): unknown; status?: string }): this {
    if (reconnected?.status === undefined || reconnected.status === 'ready') void this.measure();
    this.timer = setInterval(() => void this.measure(), this.options.refreshMs ?? DEFAULT_REFRESH_MS);
    this.timer.unref();
    reconnected?.on('ready', () => void this.measure());
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One measurement (one at a time: a call during another joins it). Never rejects. */
  measure(): Promise<void> {
    this.measuring ??= this.sample()
      .catch((error: Error) => {
        // Once per change: while TIME is refused (an ACL without it) this repeats every second.
        if (error.message !== this.failure?.message) this.options.onError?.(error);
        this.failure = error;
        // Not measured yet: nothing is stamped or run until it is, so try again soon.
        if (this.offsetMs === undefined && this.timer) setTimeout(() => void this.measure(), RETRY_UNMEASURED_MS).unref();
      })
      .finally(() => {
        this.measuring = undefined;
      });
    return this.measuring;
  }

  private async sample(): Promise<void> {
    const limitMs = this.options.sampleLimitMs ?? DEFAULT_SAMPLE_LIMIT_MS;
    let best: { offsetMs: number; wallOffsetMs: number; roundTripMs: number } | undefined;
    for (let i = 0; i < (this.options.samples ?? DEFAULT_SAMPLES); i++) {
      const sent = this.monotonic();
      const [seconds = Number.NaN, micros = 0] = await withLimit(this.source.time(), limitMs);
      const received = this.monotonic();
      const redisMs = Number(seconds) * 1000 + Number(micros) / 1000;
      const midpoint = (sent + received) / 2;
      const roundTripMs = received - sent;
      if (!Number.isFinite(redisMs)) throw new Error('Redis TIME gave no time');
      if (best && roundTripMs >= best.roundTripMs) continue;
      // The wall clock read beside the monotonic one: its offset is for people (metrics, the log).
      best = { offsetMs: redisMs - midpoint, wallOffsetMs: redisMs - (this.wall() - (received - midpoint)), roundTripMs };
    }
    if (!best) return;
    this.failure = undefined;
    const earlierMs = this.offsetMs === undefined ? 0 : this.offsetMs - best.offsetMs;
    if (earlierMs > CLOCK_BACKWARD_TOLERANCE_MS) {
      if (!this.heldBack) this.options.onHeldBack?.(earlierMs);
      this.heldBack = true;
      return;
    }
    this.heldBack = false;
    this.offsetMs = best.offsetMs;
    this.resolveFirst();
    this.options.onMeasured?.({ wallOffsetMs: best.wallOffsetMs, roundTripMs: best.roundTripMs });
  }
}

function withLimit<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer TIME within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

export interface ClockLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/**
 * Hands each measurement to a gauge (seconds) and logs when this host's clock goes more than
 * CLOCK_WARN_MS off Redis's, and when it comes back. Deadlines do not depend on it (they are on
 * Redis's clock); JWT checks and log times do.
 */
export function reportClock(log: ClockLog, gauge: (seconds: number) => void): (measurement: ClockMeasurement) => void {
  let off = false;
  return ({ wallOffsetMs, roundTripMs }) => {
    gauge(wallOffsetMs / 1000);
    const fields = { clockOffsetMs: Math.round(wallOffsetMs), redisRoundTripMs: Math.round(roundTripMs) };
    if (!off && Math.abs(wallOffsetMs) > CLOCK_WARN_MS) log.warn(fields, "this host's clock is more than 1 s off Redis's: job deadlines are unaffected (they use Redis's clock), but JWT checks use this host's clock: fix its time synchronisation (NTP)");
    else if (off && Math.abs(wallOffsetMs) <= CLOCK_WARN_MS) log.info(fields, "this host's clock is again within 1 s of Redis's");
    off = Math.abs(wallOffsetMs) > CLOCK_WARN_MS;
  };
}

/** The log lines of a process's QueueClock (facade and worker alike): its failures and held-back measurements. */
export function clockWarnings(log: Pick<ClockLog, 'warn'>): Pick<QueueClockOptions, 'onError' | 'onHeldBack'> {
  return {
    onError: (error) => log.warn({ err: error.message }, "could not read Redis's clock (TIME): until it is first measured no job is stamped or taken; once measured, the estimate held is kept"),
    onHeldBack: (earlierMs) =>
      log.warn(
        { redisEarlierMs: Math.round(earlierMs) },
        `Redis's clock reads ${Math.round(earlierMs)} ms earlier than this process's estimate: a failover to a Redis host whose clock is behind, or a stalled measurement; the estimate is kept (deadlines are not moved later); keep Redis hosts' clocks synchronised (NTP)`,
      ),
  };
}
