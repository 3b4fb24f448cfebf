import { randomUUID } from 'node:crypto';
import type { JsonObject } from '@booking/fhir';
import type { BookCommand } from '@booking/pas';
import { SqlitePas } from '@booking/pas/sqlite';
import { Keyring } from '@booking/queue';
import type { QueueEvents } from 'bullmq';
import { PasQueueClient } from '../../apps/facade/src/queue-client.js';
import { bookCommand } from '../../apps/worker/src/handlers/book.js';
import { bookingBody, type SlotForBooking } from '../support/consumer.js';
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
    return { inFlight, requests: run.latencies.length, seconds: run.seconds, throughput: run.latencies.length / run.seconds, latency: summarise(run.latencies), errors: run.errors, cpuMsPerRequest };
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
 */
export async function barePas(pasPath: string, slots: SlotForBooking[]): Promise<LimitResult> {
  const pas = new SqlitePas({ path: pasPath });
  try {
    const commands = slots.map((slot) => benchBookCommand(bookingBody(slot) as JsonObject, randomUUID()));
    // The first tenth warms up (statement compilation, JIT) and is not counted.
    const warm = Math.floor(commands.length / 10);
    for (const command of commands.slice(0, warm)) await pas.book(command);
    const latencies: number[] = [];
    let errors = 0;
    const started = performance.now();
    for (const command of commands.slice(warm)) {
      const t0 = performance.now();
      const result = await pas.book(command);
      latencies.push(performance.now() - t0);
      if (result.outcome !== 'booked') errors++;
    }
    const seconds = (performance.now() - started) / 1000;
    return { inFlight: 1, requests: latencies.length, seconds, throughput: latencies.length / seconds, latency: summarise(latencies), errors };
  } finally {
    await pas.close();
  }
}
