import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { Agent as TlsAgent, request as tlsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BOOKING_QUEUE, decodeReply, Keyring, type StoredReply } from '@booking/queue';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeTestPki, type TestPki, tlsEnv } from './support/certs.js';
import { bookingBody, consumerHeaders, type SlotForBooking } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { type RedisServer, startRedis } from './support/redis.js';
import { Stack } from './support/stack.js';

/** Bounded waits, outages, undecodable jobs and graceful shutdown (issue: reliability). */

async function book(baseUrl: string, slot: SlotForBooking, requestId = randomUUID()) {
  const started = Date.now();
  try {
    const res = await fetch(`${baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(baseUrl, 'book', { 'X-Request-ID': requestId }), body: JSON.stringify(bookingBody(slot)) });
    const json = (await res.json()) as Record<string, any>;
    return { status: res.status, json, ms: Date.now() - started, requestId };
  } catch (error) {
    return { status: 'network' as const, json: undefined, ms: Date.now() - started, requestId, error };
  }
}

function slotsOf(stack: Stack, n = 200) {
  const db = stack.openPas();
  try {
    return freeSlots(db, '999999999', n);
  } finally {
    db.close();
  }
}

describe('bounded waits', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1, env: { JOB_TIMEOUT_MS: '1000' } });
  });
  afterAll(async () => stack?.stop());

  it('answers 500 "outcome unknown" when no worker replies in time; the same-id retry then books', async () => {
    const slot = slotsOf(stack)[0] as SlotForBooking;
    stack.workers[0]?.child.kill('SIGTERM');
    await new Promise((r) => stack.workers[0]?.child.once('exit', r));

    const first = await book(stack.baseUrl, slot);
    // The timeout path (JOB_TIMEOUT_MS), not a hang: its own diagnostics. No timing is asserted.
    expect(first.status).toBe(500);
    expect(first.json?.issue[0].diagnostics).toMatch(/outcome is unknown.*same X-Request-ID/i);

    stack.startWorker();
    // Ready once the new worker is connected, however long its start takes on a busy machine.
    await stack.waitReady(stack.facades[0]!);
    // The first job is past its deadline by now: the new worker drops it without booking.
    let retry = await book(stack.baseUrl, slot, first.requestId);
    for (let i = 0; i < 20 && retry.status === 500; i++) {
      await sleep(250);
      retry = await book(stack.baseUrl, slot, first.requestId);
    }
    expect(retry.status).toBe(201);
    const db = stack.openPas();
    const n = (db.prepare(`SELECT COUNT(*) AS n FROM APPOINTMENT WHERE SLOT_ID = ?`).get(Number(slot.id)) as { n: number }).n;
    db.close();
    expect(n).toBe(1);
  });

  it('fails a job it cannot decode cleanly, without touching the PAS', async () => {
    const queue = new Queue(BOOKING_QUEUE, { connection: { url: inject('redisUrl') }, prefix: stack.queuePrefix });
    try {
      const garbage = await queue.add('book', { kind: 'book', traceRequestId: 't', deadline: Date.now() + 10000, sealed: { k: 'k1', iv: 'AAAA', t: 'AAAA', d: 'AAAA' } });
      // The job's own state, polled (bounded, generous): no completion event to miss on a busy machine.
      let finished = await queue.getJob(String(garbage.id));
      for (let waited = 0; !finished?.finishedOn && waited < 60_000; waited += 100) {
        await sleep(100);
        finished = await queue.getJob(String(garbage.id));
      }
      expect(finished?.finishedOn, 'the worker finished the job').toBeDefined();
      const reply = decodeReply(finished?.returnvalue as StoredReply, String(garbage.id), new Keyring(stack.queueKeys, 'k1'));
      expect(reply).toMatchObject({ type: 'problem', problem: { status: 500, diagnostics: expect.stringMatching(/could not be decoded/) } });
    } finally {
      await queue.close();
    }
  });
});

describe('Redis outage', () => {
  let redis: RedisServer;
  let stack: Stack;
  beforeAll(async () => {
    redis = await startRedis();
    stack = await Stack.start({ redisUrl: redis.url, workers: 1 });
  });
  afterAll(async () => {
    await stack?.stop();
    await redis?.stop();
  });

  it('answers 500 at once (not after the job timeout) while Redis is down, turns readiness red, and recovers by itself', async () => {
    const slots = slotsOf(stack);
    expect((await book(stack.baseUrl, slots[0] as SlotForBooking)).status).toBe(201);
    await redis.stop();

    const down = await Promise.all(slots.slice(1, 11).map((s) => book(stack.baseUrl, s)));
    for (const answer of down) {
      expect(answer.status).toBe(500);
      expect(answer.json?.resourceType).toBe('OperationOutcome');
      // Refused at the queue, not left to the 10 s job timeout (whose diagnostics say "outcome is unknown").
      expect(answer.json?.issue[0].diagnostics).toMatch(/temporarily unavailable/);
    }
    const ready = await fetch(`${stack.facades[0]?.adminUrl}/health/ready`);
    expect(ready.status).toBe(503);

    await redis.restart();
    await stack.waitReady(stack.facades[0]!);
    let after = await book(stack.baseUrl, slots[20] as SlotForBooking);
    for (let i = 0; i < 20 && after.status !== 201; i++) {
      await sleep(250);
      after = await book(stack.baseUrl, slots[21 + i] as SlotForBooking);
    }
    expect(after.status).toBe(201);
  });
});

describe('shutdown with Redis gone', () => {
  let redis: RedisServer;
  let stack: Stack;
  beforeAll(async () => {
    redis = await startRedis();
    // A short retry budget makes the worker's shutdown deadline (budget + 5 s) short.
    stack = await Stack.start({ redisUrl: redis.url, workers: 1, env: { PAS_WRITE_RETRY_BUDGET_MS: '1000' } });
  });
  afterAll(async () => {
    await stack?.stop();
    await redis?.stop();
  });

  it('a worker told to stop while its Redis is gone still exits, by its shutdown deadline at the latest', async () => {
    const worker = stack.workers[0]!;
    await redis.stop();
    const exited = new Promise<number | null>((resolve) => worker.child.once('exit', (code) => resolve(code)));
    worker.child.kill('SIGTERM');
    // BullMQ waits for a Redis that is not coming back; the deadline (6 s here) ends the wait.
    const code = await Promise.race([exited, sleep(30_000).then(() => 'still running' as const)]);
    expect(code).not.toBe('still running');
  });
});

describe('graceful shutdown', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 2, facades: 2 });
  });
  afterAll(async () => stack?.stop());

  it('lets a worker finish the jobs it holds on SIGTERM: nothing is lost', async () => {
    const slots = slotsOf(stack, 60);
    const pending = slots.map((s, i) => book(stack.facades[i % 2]!.baseUrl, s));
    await sleep(20);
    stack.workers[0]?.child.kill('SIGTERM');
    const answers = await Promise.all(pending);
    expect(answers.map((a) => a.status).filter((s) => s !== 201)).toEqual([]);
    expect(stack.workers[0]?.child.exitCode).toBe(0);
  });

  it('lets a facade answer every request in flight on SIGTERM, then exit', async () => {
    // With no worker running, the requests are surely in flight inside the facade at SIGTERM.
    for (const w of stack.workers) w.child.kill('SIGTERM');
    await Promise.all(stack.workers.map((w) => (w.child.exitCode === null ? new Promise((r) => w.child.once('exit', r)) : undefined)));
    const slots = slotsOf(stack, 200).slice(0, 40);
    const facade = stack.facades[0]!;
    const pending = slots.map((s) => book(facade.baseUrl, s));
    // Wait until the facade holds every request (each has queued its job), however slow the
    // machine: a connection still in the kernel's accept queue at SIGTERM is not in flight yet.
    const queue = new Queue(BOOKING_QUEUE, { connection: { url: inject('redisUrl') }, prefix: stack.queuePrefix });
    try {
      for (let waited = 0; (await queue.getWaitingCount()) < slots.length && waited < 60_000; waited += 50) await sleep(50);
    } finally {
      await queue.close();
    }
    const exited = new Promise<number | null>((r) => facade.child.once('exit', (code) => r(code)));
    facade.child.kill('SIGTERM');
    await sleep(200);
    stack.startWorker();
    const answers = await Promise.all(pending);
    expect(answers.filter((a) => a.status === 'network')).toEqual([]);
    expect(answers.map((a) => a.status).filter((s) => s !== 201)).toEqual([]);
    expect(await exited).toBe(0);
  });
});

// Over plain HTTP and over mutual TLS (the default), where the drain tracks the TLS sockets.
describe.each([
  { transport: 'plain HTTP', tls: false },
  { transport: 'mutual TLS', tls: true },
])('a facade draining (SIGTERM) with a kept-alive connection open, over $transport', ({ tls }) => {
  let stack: Stack;
  let pki: TestPki | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    if (tls) {
      dir = mkdtempSync(join(tmpdir(), 'drain-tls-'));
      pki = await makeTestPki(dir);
    }
    stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1, env: { JOB_TIMEOUT_MS: '8000', ...(pki ? tlsEnv(pki) : {}) } });
  });
  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A keep-alive agent of one connection, presenting the SSP's client certificate over TLS. */
  const newAgent = () => (pki ? new TlsAgent({ keepAlive: true, maxSockets: 1, ca: pki.ca.cert, cert: pki.ssp.cert, key: pki.ssp.key }) : new Agent({ keepAlive: true, maxSockets: 1 }));

  /** One request through `agent`; the socket it went over, or the connection error. */
  function send(agent: Agent, method: string, path: string, headers: Record<string, string>, body?: string) {
    return new Promise<{ status: number | string; connection?: string; socket?: Socket }>((resolve) => {
      const req = (pki ? tlsRequest : request)(`${stack.baseUrl}${path}`, { method, headers, agent }, (res) => {
        const socket = res.socket as Socket; // the agent takes it back at the end
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, socket }));
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: `error ${e.code ?? e.message}` }));
      req.end(body);
    });
  }

  it('closes the idle connection while a request is still in flight, so nothing can arrive on it late and be cut; the request in flight is answered with Connection: close and no job is queued after SIGTERM', { timeout: 90_000 }, async () => {
    const base = stack.baseUrl;
    const [a, b] = slotsOf(stack, 2) as [SlotForBooking, SlotForBooking];
    const bookHeaders = () => ({ ...consumerHeaders(base, 'book', { 'X-Request-ID': randomUUID() }), 'content-type': 'application/fhir+json' });
    const agentA = newAgent();
    const agentB = newAgent();
    // B: a pooled, idle connection (as a proxy keeps one).
    const warm = await send(agentB, 'GET', '/metadata', consumerHeaders(base, 'metadata'));
    expect(warm.status).toBe(200);
    expect(warm.socket).toBeDefined();
    const idleClosed = new Promise<void>((r) => warm.socket?.once('close', () => r()));

    // No worker: the booking on A stays in flight until JOB_TIMEOUT_MS.
    const w = stack.workers[0]!;
    w.child.kill('SIGTERM');
    await new Promise((r) => w.child.once('exit', r));
    let firstSettled = false;
    const first = send(agentA, 'POST', '/Appointment', bookHeaders(), JSON.stringify(bookingBody(a))).finally(() => (firstSettled = true));
    const queue = new Queue(BOOKING_QUEUE, { connection: { url: inject('redisUrl') }, prefix: stack.queuePrefix });
    try {
      for (let i = 0; (await queue.getWaitingCount()) < 1 && i < 600; i++) await sleep(50);
      const facade = stack.facades[0]!;
      const exited = new Promise<number | null>((r) => facade.child.once('exit', (code) => r(code)));
      facade.child.kill('SIGTERM');

      await idleClosed;
      expect(firstSettled, 'the idle connection was closed only once the request in flight was answered').toBe(false);
      // What a proxy would do next: B's pooled connection is gone, so a new one, which the stopped listener refuses.
      const late = await send(agentB, 'POST', '/Appointment', bookHeaders(), JSON.stringify(bookingBody(b)));
      expect(late.status).toBe('error ECONNREFUSED');

      const answered = await first;
      expect(answered.status).toBe(500); // outcome unknown after JOB_TIMEOUT_MS, answered
      // and says the connection ends with it, so a proxy sends nothing more on it to be cut off.
      expect(answered.connection).toBe('close');
      expect(await exited).toBe(0);
      expect(await queue.getWaitingCount()).toBe(1); // only the booking in flight at SIGTERM
    } finally {
      await queue.close();
      agentA.destroy();
      agentB.destroy();
    }
  });
});
