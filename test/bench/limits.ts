import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JsonObject } from '@booking/fhir';
import type { BookCommand } from '@booking/pas';
import { SqlitePas } from '@booking/pas/sqlite';
import { Keyring } from '@booking/queue';
import type { QueueEvents } from 'bullmq';
import { AuditLog } from '../../apps/facade/src/audit/log.js';
import { PasQueueClient } from '../../apps/facade/src/queue-client.js';
import { bookCommand } from '../../apps/worker/src/handlers/book.js';
import { bookingBody, type SlotForBooking } from '../support/consumer.js';
import { stopProcess } from '../support/redis.js';
import { cpuMs } from './rss.js';
import { closedLoop, type LatencySummary, summarise } from './stats.js';

/** What the worker's config defaults to (LOCAL_PATIENT_ID_SYSTEM). */
const LOCAL_PATIENT_ID_SYSTEM = 'https://fhir.example-trust.nhs.uk/Id/hospital-number';

export interface LimitResult {
  inFlight: number;
  requests: number;
  seconds: number;
  throughput: number;
  latency: LatencySummary;
  errors: number;
  /** CPU ms per round trip of each process given (the client is this process). */
  cpuMsPerRequest?: Record<string, number>;
  /** Every latency in ms (for merging rounds; left out of report.json). */
  samples?: number[];
}

/** Several runs of one limit (rounds interleaved with the scenario it is compared with) as one. */
export function mergeLimits(runs: LimitResult[]): LimitResult {
  const samples = runs.flatMap((r) => r.samples ?? []);
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const cpu: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.cpuMsPerRequest ?? {})) cpu[k] = (cpu[k] ?? 0) + (v * r.requests) / Math.max(1, requests);
  return { inFlight: runs[0]?.inFlight ?? 1, requests, seconds, throughput: requests / seconds, latency: summarise(samples), errors: runs.reduce((n, r) => n + r.errors, 0), cpuMsPerRequest: cpu, samples };
}

/** CPU ms this process spends from now until the returned function is called, per `n`. */
function ownCpu(): (n: number) => number {
  const start = process.cpuUsage();
  return (n) => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000 / Math.max(1, n);
  };
}

export interface QueueTarget {
  redisUrl: string;
  prefix: string;
  /** `kid:base64key` as the stack's processes get it. */
  keys: string;
}

/**
 * The bare queue: the product's own PasQueueClient (sealed `noop` job → the real worker processes,
 * which answer noop without touching the PAS → sealed reply back through the shared QueueEvents).
 * This is "add, worker, result back" exactly as the facade does it, minus HTTP and the FHIR work.
 */
export async function bareQueue(target: QueueTarget, inFlight: number, total: number, pids: Record<string, number> = {}): Promise<LimitResult> {
  const kid = target.keys.slice(0, target.keys.indexOf(':'));
  const client = new PasQueueClient({ redis: target.redisUrl, prefix: target.prefix, keyring: new Keyring(target.keys, kid), retentionSeconds: 3600 });
  try {
    await client.ready();
    const job = () => client.run({ kind: 'noop', traceRequestId: randomUUID() }, 10000);
    await closedLoop(Math.min(200, total), inFlight, async () => void (await job())); // warm-up: JIT, connections
    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
    const run = await closedLoop(total, inFlight, async () => {
      const reply = await job();
      if (reply.type !== 'empty') throw new Error(`noop answered ${reply.type}`);
    });
    const n = Math.max(1, run.latencies.length);
    const cpuMsPerRequest = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, Number(((cpuMs(pid) - (cpuBefore[name] as number)) / n).toFixed(3))]));
    return { inFlight, requests: run.latencies.length, seconds: run.seconds, throughput: run.latencies.length / run.seconds, latency: summarise(run.latencies), errors: run.errors, cpuMsPerRequest, samples: run.latencies };
  } finally {
    await client.close();
    // BullMQ leaves connections it was handed open (the product's PasQueueClient.close() relies on
    // process exit); close them here, or they retry a stopped Redis for ever.
    const events = (client as unknown as { events: QueueEvents }).events;
    for (const connection of await Promise.all([client.queue.client, events.client])) connection.disconnect();
  }
}

/** The command the worker's handleBook builds for a consumer's booking body. */
export function benchBookCommand(body: JsonObject, requestId: string): BookCommand {
  const command = bookCommand({ appointment: body, requestId }, randomUUID(), LOCAL_PATIENT_ID_SYSTEM);
  if (!('requestId' in command)) throw new Error(`invalid booking body: ${command.diagnostics}`);
  return command;
}

/**
 * The bare PAS: SqlitePas.book in this process on the stack's PAS file, one at a time, no HTTP and
 * no queue. Commands are built before the clock starts; only the PAS transaction is timed.
 * `idleMs` > 0 leaves the process idle that long before each call, as a worker is between the
 * bookings of one connection: the same transaction then runs on cold caches once per wake-up.
 */
export async function barePas(pasPath: string, slots: SlotForBooking[], idleMs = 0): Promise<LimitResult> {
  const pas = new SqlitePas({ path: pasPath });
  try {
    const commands = slots.map((slot) => benchBookCommand(bookingBody(slot) as JsonObject, randomUUID()));
    // The first tenth warms up (statement compilation, JIT) and is not counted.
    const warm = Math.floor(commands.length / 10);
    for (const command of commands.slice(0, warm)) await pas.book(command);
    const latencies: number[] = [];
    let errors = 0;
    const started = performance.now();
    const cpu = ownCpu();
    for (const command of commands.slice(warm)) {
      if (idleMs > 0) await sleep(idleMs);
      const t0 = performance.now();
      const result = await pas.book(command);
      latencies.push(performance.now() - t0);
      if (result.outcome !== 'booked') errors++;
    }
    const seconds = (performance.now() - started) / 1000;
    const cpuMsPerRequest = { pas: Number(cpu(latencies.length).toFixed(3)) };
    return { inFlight: 1, requests: latencies.length, seconds, throughput: latencies.length / seconds, latency: summarise(latencies), errors, cpuMsPerRequest, samples: latencies };
  } finally {
    await pas.close();
  }
}

/**
 * One audit record made durable, as every request of the facade waits for it: the product's
 * AuditLog in this process, one write at a time, in a directory next to the stack's audit trail
 * (same disk).
 */
export async function auditWrite(besideDir: string, total: number): Promise<LimitResult> {
  const dir = mkdtempSync(join(besideDir, 'audit-limit-'));
  const log = new AuditLog(dir);
  try {
    const record = () => ({ time: new Date().toISOString(), event: 'request' as const, interaction: 'book', method: 'POST', path: '/STU3/1/Appointment', status: 201, outcome: 'RESOURCE_CREATED', requestId: randomUUID(), consumerRequestId: randomUUID(), sspTraceId: randomUUID() });
    for (let i = 0; i < Math.min(100, total); i++) await log.write(record());
    const cpu = ownCpu();
    const run = await closedLoop(total, 1, async () => log.write(record()));
    return { inFlight: 1, requests: run.latencies.length, seconds: run.seconds, throughput: run.latencies.length / run.seconds, latency: summarise(run.latencies), errors: run.errors, samples: run.latencies, cpuMsPerRequest: { audit: Number(cpu(run.latencies.length).toFixed(3)) } };
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A bare-HTTP limit's server (test/bench/bare-http.mjs): plain Node http, or Hono with no middleware; same body and headers as the facade's answer. */
export async function startBareHttp(body: Buffer, headers: Record<string, string>, framework: 'none' | 'hono' = 'none'): Promise<{ origin: string; pid: number; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'bare-http-'));
  const bodyFile = join(dir, 'body');
  writeFileSync(bodyFile, body);
  const child = spawn(process.execPath, [join(import.meta.dirname, 'bare-http.mjs')], { env: { ...process.env, BARE_BODY_FILE: bodyFile, BARE_HEADERS: JSON.stringify(headers), ...(framework === 'hono' ? { BARE_FRAMEWORK: 'hono' } : {}) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bare http server exited (${code})`)));
  });
  const { port } = JSON.parse(line) as { port: number };
  return {
    origin: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    stop: async () => {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
