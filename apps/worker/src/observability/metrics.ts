import type { PasJob, WorkerReply } from '@booking/queue';
import type { Job } from 'bullmq';
import type { PasChangeKind, PasObserver, PasPort } from '@booking/pas';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds buckets from a cached SQLite read to a PAS transaction stuck behind locks. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const PAS_CHANGE_KINDS: readonly PasChangeKind[] = ['status', 'time', 'slot', 'patient'];
const PAS_CHANGE_VIAS = ['read', 'search', 'cancel', 'reconcile'] as const;
export type SweepOutcome = 'complete' | 'partial' | 'skipped' | 'failed';
export type BookingOutcome = 'booked' | 'slot_taken' | 'duplicate' | 'cancelled' | 'replayed' | 'other' | 'expired' | 'undecodable' | 'failed';
const BOOKING_OUTCOMES: readonly BookingOutcome[] = ['booked', 'slot_taken', 'duplicate', 'cancelled', 'replayed', 'other', 'expired', 'undecodable', 'failed'];
/** Job kinds as metric labels; a kind Redis holds that is none of them (a tampered job) is counted as `unknown`. */
const JOB_KINDS: readonly string[] = ['book', 'cancel', 'read', 'search-slot', 'search-appointment', 'noop'] satisfies readonly PasJob['kind'][];
/** The PAS port's operations, as instrumentPas names them in booking_pas_* labels. */
const PAS_OPERATIONS = ['searchSlots', 'book', 'searchAppointments', 'readAppointment', 'cancel', 'findWrite', 'reconcile', 'ping', 'checkSchema'] as const satisfies readonly (keyof PasPort)[];
const kindLabel = (kind: string | undefined) => (kind !== undefined && JOB_KINDS.includes(kind) ? kind : 'unknown');
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/**
 * What a book or cancel reply means for the business, as the on-call dashboard counts it.
 * `countedBefore`: an earlier run of the same job already counted its booking or cancellation
 * (processor.ts, count-once.ts), so this one is a replay.
 */
export function bookingOutcome(kind: string, reply: WorkerReply, countedBefore = false): BookingOutcome {
  if (reply.type === 'resource') {
    if (countedBefore) return 'replayed';
    if (kind === 'book' && reply.status === 201) return 'booked';
    if (kind === 'cancel') return 'cancelled';
  }
  if (reply.type === 'problem') {
    if (reply.problem.spineCode === 'DUPLICATE_REJECTED') return 'duplicate';
    if (kind === 'book' && reply.problem.status === 422 && reply.problem.code === 'processing') return 'slot_taken';
  }
  return 'other';
}

/**
 * The worker's Prometheus metrics. Job timings and outcomes are taken here, where the finished
 * job and its plain reply are in hand: no extra Redis read, and still right when completed jobs are
 * removed at once or replies are stored encrypted.
 */
export function createWorkerMetrics(settings: { reconcileIntervalSeconds?: number } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const pasDuration = new Histogram({
    name: 'booking_pas_duration_seconds',
    help: 'PAS transaction latency by port operation (each attempt, retries included)',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const pasErrors = new Counter({
    name: 'booking_pas_errors_total',
    help: 'PAS operations that threw, by operation and whether the failure was transient (retried)',
    labelNames: ['operation', 'transient'] as const,
    registers,
  });
  const pasRetries = new Counter({ name: 'booking_pas_retries_total', help: 'Retries of a transient PAS failure (deadlock, lock timeout, busy)', registers });
  const jobsProcessed = new Counter({
    name: 'booking_jobs_processed_total',
    help: 'Jobs this worker finished, by kind and result (resource, problem, empty or failed)',
    labelNames: ['kind', 'result'] as const,
    registers,
  });
  const jobWait = new Histogram({
    name: 'booking_job_wait_seconds',
    help: 'Time a job waited in the queue before a worker took it (processedOn - timestamp)',
    labelNames: ['kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const jobRun = new Histogram({
    name: 'booking_job_run_seconds',
    help: 'Time a worker spent on a job (finishedOn - processedOn)',
    labelNames: ['kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const outcomes = new Counter({
    name: 'booking_outcomes_total',
    help: 'Booking and cancellation outcomes: booked, slot_taken, duplicate, cancelled, replayed (a later run of a job whose booking or cancellation an earlier run already counted: the same answer again, nothing written), other, expired (deadline passed: outcome unknown to the consumer), undecodable, failed',
    labelNames: ['outcome'] as const,
    registers,
  });
  const notRun = new Counter({
    name: 'booking_jobs_not_run_total',
    help: 'Jobs of every kind this worker answered without running them: expired (deadline passed: 500, outcome unknown to the consumer) or undecodable (could not be opened: a queue key missing, or tampering)',
    labelNames: ['kind', 'reason'] as const,
    registers,
  });
  // Zero series from the start, so rate() and the dashboard see every outcome before it happens,
  // and increase() sees the first event after a restart (a series that first appears at 1 shows none).
  for (const outcome of BOOKING_OUTCOMES) outcomes.inc({ outcome }, 0);
  // `unknown`: a kind no worker knows (a tampered job), the first of which must be seen too.
  for (const kind of [...JOB_KINDS, 'unknown']) for (const reason of ['expired', 'undecodable'] as const) notRun.inc({ kind, reason }, 0);
  for (const operation of PAS_OPERATIONS) for (const transient of ['true', 'false']) pasErrors.inc({ operation, transient }, 0);
  pasRetries.inc(0);

  // The PAS as the truth: changes its own screens made, found by a read, search, cancel or sweep.
  const pasChanges = new Counter({
    name: 'booking_pas_changes_total',
    help: 'PAS-side changes recorded as a new appointment version, by kind (status, time, slot, patient) and where they were found (read, search, cancel, reconcile)',
    labelNames: ['kind', 'via'] as const,
    registers,
  });
  const unknownCodes = new Counter({
    name: 'booking_pas_unknown_codes_total',
    help: 'Legacy codes read that the status mapping does not know, by column and code (read in the documented safe way)',
    labelNames: ['column', 'code'] as const,
    registers,
  });
  const unreadableRows = new Counter({
    name: 'booking_pas_unreadable_rows_total',
    help: 'Legacy rows left out of a slot search, an appointment search by NHS number or a reconcile step because they could not be read (a datetime the clock cannot parse), by table',
    labelNames: ['table'] as const,
    registers,
  });
  const sweeps = new Counter({
    name: 'booking_reconcile_sweeps_total',
    help: 'Reconciler sweeps by outcome: complete (reached the end), partial (bounded; the next sweep carries on), skipped (another worker was sweeping), failed',
    labelNames: ['outcome'] as const,
    registers,
  });
  const sweepDuration = new Histogram({
    name: 'booking_reconcile_sweep_duration_seconds',
    help: 'Time one reconciler sweep took (skipped sweeps not included)',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers,
  });
  const sweepChecked = new Counter({ name: 'booking_reconcile_checked_total', help: 'Appointments the reconciler composed from the PAS and compared', registers });
  const lastSweep = new Gauge({ name: 'booking_reconcile_last_sweep_timestamp_seconds', help: 'Unix time this worker last finished a reconciler sweep (complete or partial); 0 until its first', registers });
  // So an alert can tell a reconciler switched off (0 on every worker) from one that stopped sweeping.
  const sweepInterval = new Gauge({ name: 'booking_reconcile_interval_seconds', help: 'RECONCILE_INTERVAL_SECONDS of this worker (0: it runs no sweeps)', registers });
  sweepInterval.set(settings.reconcileIntervalSeconds ?? 0);
  const clockOffset = new Gauge({ name: 'booking_clock_offset_seconds', help: "Redis's clock less this host's, in seconds, last measured (job deadlines use Redis's clock; JWT checks use this host's)", registers });
  for (const kind of PAS_CHANGE_KINDS) for (const via of PAS_CHANGE_VIAS) pasChanges.inc({ kind, via }, 0);
  for (const outcome of ['complete', 'partial', 'skipped', 'failed'] as const) sweeps.inc({ outcome }, 0);
  sweepChecked.inc(0);
  for (const table of ['CLINIC_SLOT', 'APPOINTMENT'] as const) unreadableRows.inc({ table }, 0);

  /** The adapter's observer (PasObserver): one counter per change kind. */
  const pasObserver: PasObserver = {
    pasChange(kinds, via) {
      for (const kind of kinds) pasChanges.inc({ kind, via });
    },
    unknownCode(column, code) {
      unknownCodes.inc({ column, code: code.slice(0, 16) });
    },
    unreadableRow(table) {
      unreadableRows.inc({ table });
    },
  };

  return {
    registry,
    pasObserver,
    /** The queue clock's latest measurement against this host's (clock.ts). */
    clockOffset(seconds: number) {
      clockOffset.set(seconds);
    },
    /** A reconciler sweep ended (or was skipped because another worker held the sweep lock). */
    sweep(outcome: SweepOutcome, seconds?: number, checked?: number) {
      sweeps.inc({ outcome });
      if (outcome === 'skipped' || outcome === 'failed') return;
      if (seconds !== undefined) sweepDuration.observe(seconds);
      if (checked) sweepChecked.inc(checked);
      lastSweep.setToCurrentTime();
    },
    pasCall(operation: string, seconds: number, error?: unknown, transient?: boolean) {
      pasDuration.observe({ operation }, seconds);
      if (error) pasErrors.inc({ operation, transient: String(Boolean(transient)) });
    },
    pasRetry() {
      pasRetries.inc();
    },
    /**
     * A reply the processor produced (before it is sealed for Redis), every one: those of jobs it
     * did not run (deadline passed, undecodable: `unrun`) too; `countedBefore` as for bookingOutcome.
     */
    reply(kind: string, reply: WorkerReply, unrun?: 'expired' | 'undecodable', countedBefore?: boolean) {
      jobsProcessed.inc({ kind: kindLabel(kind), result: reply.type });
      if (unrun) notRun.inc({ kind: kindLabel(kind), reason: unrun });
      if (kind === 'book' || kind === 'cancel') outcomes.inc({ outcome: unrun ?? bookingOutcome(kind, reply, countedBefore) });
    },
    /** A job BullMQ moved to completed or failed: timings from its own timestamps. */
    finished(job: Job, failed: boolean) {
      const kind = kindLabel(job.name);
      if (failed) jobsProcessed.inc({ kind, result: 'failed' });
      if (failed && (kind === 'book' || kind === 'cancel')) outcomes.inc({ outcome: 'failed' });
      if (job.processedOn) {
        jobWait.observe({ kind }, Math.max(0, job.processedOn - job.timestamp) / 1000);
        if (job.finishedOn) jobRun.observe({ kind }, Math.max(0, job.finishedOn - job.processedOn) / 1000);
      }
    },
  };
}
