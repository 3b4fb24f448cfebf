import { Writable } from 'node:stream';
import { problems } from '@booking/fhir';
import type { PasJob, WorkerReply } from '@booking/queue';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import type { AuditLog } from '../src/audit/log.js';
import { JobError } from '../src/job-runner.js';
import { createFacadeMetrics } from '../src/observability/metrics.js';
import { observeRequests } from '../src/observability/request.js';
import { BASE, headersFor, PROVIDER_ASID } from './support.js';

/**
 * What the people running the facade see of a request, in process, with the app wired as main.ts
 * wires it: its log lines, its metrics and its audit record.
 */

type Audit = Pick<AuditLog, 'write' | 'append'>;

function wired(options: { audit?: Audit; reply?: (job: PasJob) => Promise<WorkerReply> | WorkerReply } = {}) {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const logger = pino({ level: 'trace' }, stream);
  const metrics = createFacadeMetrics([]);
  const app = createApp({
    baseUrl: BASE,
    basePath: '/STU3/1',
    providerAsid: PROVIDER_ASID,
    clockSkewSeconds: 60,
    maxBodyBytes: 64 * 1024,
    jobTimeoutMs: 1000,
    publisher: 'test',
    softwareName: 'test',
    jobs: { run: async (job) => (options.reply ?? (() => ({ type: 'problem', problem: problems.notFound('Appointment/abc is not known to this provider') })))(job) },
    ...(options.audit ? { audit: options.audit as AuditLog } : {}),
    onError: (error, log) => (log ?? logger).error({ err: error.message }, 'unhandled error'), // main.ts's
    observe: observeRequests({ logger, metrics, tracing: false }),
  });
  return { app, lines, metrics };
}

const counted = async (metrics: ReturnType<typeof createFacadeMetrics>, name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(await metrics.registry.metrics())?.[1] ?? 0);

describe('a job that gives no usable reply', () => {
  it.each([
    ['reply-unreadable', 'the worker\u2019s reply does not open: sealed with unknown key "k2"'],
    ['job-failed', 'the job threw in the worker'],
    ['timeout', 'no reply from a worker within 1000 ms'],
    ['queue-unavailable', 'the queue is unavailable: no connection to Redis within 1000 ms'],
  ] as const)('%s: a 500 to the consumer; the log says why at error level, with the request\u2019s ids; counted by reason', async (reason, message) => {
    const { app, lines, metrics } = wired({
      reply: () => {
        throw new JobError(reason, message);
      },
    });
    const res = await app.request(`${BASE}/Appointment/abc`, { headers: headersFor('read', { 'X-Request-ID': 'consumer-1' }) });
    expect(res.status).toBe(500);
    const line = lines.find((l) => l.reason === reason);
    expect(line).toMatchObject({ level: 50, reason, err: message, kind: 'read', requestId: res.headers.get('x-request-id'), correlationId: 'consumer-1' });
    expect(await counted(metrics, 'booking_job_failures_total', `interaction="read",reason="${reason}"`)).toBe(1);
  });
});
