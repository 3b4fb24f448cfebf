import type { Queue } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { INTERACTIONS } from '../interactions.js';
import { JOB_FAILURES } from '../job-runner.js';
import type { TlsExpiry } from '../security/tls.js';

/** Seconds buckets from a quick metadata read to a booking that waited on a slow PAS. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** `paused`: jobs waiting in a queue paused from the dashboard; `prioritized`: waiting jobs that carry a priority. */
const JOB_STATES = ['waiting', 'paused', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;

export type FacadeMetrics = ReturnType<typeof createFacadeMetrics>;

/**
 * The facade's Prometheus metrics. Queue depth is read from Redis on each scrape, not kept in
 * memory: every facade reports the same numbers, so dashboards take max(), not sum().
 */
export function createFacadeMetrics(queues: Queue[], options: { tlsExpiries?: () => TlsExpiry[] } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const httpRequests = new Counter({
    name: 'booking_http_requests_total',
    help: 'Consumer requests answered, by Booking API interaction and HTTP status',
    labelNames: ['interaction', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'booking_http_request_duration_seconds',
    help: 'Time to answer a consumer request, by interaction and HTTP status',
    labelNames: ['interaction', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const jobFailures = new Counter({
    name: 'booking_job_failures_total',
    help: 'Consumer requests answered 500 because their job gave no usable reply, by interaction and reason',
    labelNames: ['interaction', 'reason'] as const,
    registers: [registry],
  });
  // Zero series from the start: increase() over a series that first appears at 1 is 0, so the
  // first unreadable reply after a restart (a key rotation restarts everything) would raise no alert.
  for (const { name, job } of INTERACTIONS) if (job) for (const reason of JOB_FAILURES) jobFailures.inc({ interaction: name, reason }, 0);
  new Gauge({
    name: 'booking_queue_jobs',
    help: 'Jobs in each state of each queue, read from Redis at scrape time',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const queue of queues) {
        try {
          const counts = await withDeadline(queue.getJobCounts(...JOB_STATES), 1000);
          for (const state of JOB_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
        } catch {
          // Redis unreachable: no depth series this scrape (readiness says why), the scrape still answers.
        }
      }
    },
  });

  if (options.tlsExpiries) {
    const expiries = options.tlsExpiries;
    new Gauge({
      name: 'booking_tls_expiry_timestamp_seconds',
      help: 'When the TLS material in use stops working: the server certificate, its chain and each client CA certificate expire, each CRL passes its next update (then every client certificate of its CA is refused)',
      labelNames: ['kind', 'subject', 'id'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const e of expiries()) this.set({ kind: e.kind, subject: e.subject, id: e.id }, Math.floor(e.at.getTime() / 1000));
      },
    });
  }

  const clockOffset = new Gauge({ name: 'booking_clock_offset_seconds', help: "Redis's clock less this host's, in seconds, last measured (job deadlines use Redis's clock; JWT checks use this host's)", registers: [registry] });

  return {
    registry,
    /** The queue clock's latest measurement against this host's (queue-client.ts, clock.ts). */
    clockOffset(seconds: number) {
      clockOffset.set(seconds);
    },
    /** Records one answered consumer request. */
    request(interaction: string, status: number, seconds: number) {
      const labels = { interaction, status: String(status) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, seconds);
    },
    /** Records a job that gave no usable reply (job-runner.ts JobFailure: a bounded set). */
    jobFailure(interaction: string, reason: string) {
      jobFailures.inc({ interaction, reason });
    },
  };
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}
