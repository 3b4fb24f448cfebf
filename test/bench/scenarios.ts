import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { DateTime } from 'luxon';
import { generateDemoData } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import { consumerHeaders, type InteractionName, bookingBody, type SlotForBooking } from '../support/consumer.js';
import { freeSlots, pasCounts } from '../support/pas.js';
import { startRedis } from '../support/redis.js';
import { rawRequest } from '../support/raw-http.js';
import { Stack } from '../support/stack.js';
import { type BenchRequest, drive, type DriveResult, mergeDrives } from './http.js';
import { auditWrite, bareQueue, barePas, type LimitResult, mergeLimits, startBareHttp } from './limits.js';
import type { LatencySummary } from './stats.js';

export interface BenchOptions {
  /** Small sizes for the regression guard (well under a minute). */
  quick: boolean;
  workers: number;
  /** Seconds of the optional soak (0 = none). */
  soakSeconds: number;
  /** Extra node flags for the facade and worker processes (e.g. --cpu-prof …), via NODE_OPTIONS. */
  nodeFlags: string[];
  log: (line: string) => void;
  /** Run only scenarios whose name starts with one of these (limits always run); empty = all. */
  only?: string[];
  /** `dist`: facade and workers run the production build (`node dist/main.js`, as the images do); `ts` (default): TypeScript through tsx. */
  runtime?: 'dist' | 'ts';
}

export interface ScenarioResult {
  name: string;
  description: string;
  connections: number;
  requests: number;
  seconds: number;
  throughput: number;
  latency: LatencySummary;
  statuses: Record<string, number>;
  non2xx: number;
  /** Answers other than the scenario's expected ones (5xx, or e.g. a 409 where only 201 is right). */
  unexpected: number;
  errors: number;
  rssPeakMb: { facade: number; worker: number };
  /** CPU ms per request: facade, all workers together, redis-server, the load generator (this process). */
  cpuMsPerRequest: { facade: number; workers: number; redis: number; loadgen: number };
  /** Scenario-specific facts (PAS checks after contention, soak growth…). */
  notes: Record<string, number | string | boolean>;
}

export interface BenchResult {
  command: string;
  date: string;
  machine: { cores: number; cpu: string; node: string; loadBefore: number[]; loadAfter: number[] };
  options: { quick: boolean; workers: number; soakSeconds: number; nodeFlags: string[]; runtime?: 'dist' | 'ts' };
  /** How facade and workers were started (the command lines). */
  ran?: { facade: string; worker: string };
  limits: {
    queue1: LimitResult;
    queue64: LimitResult;
    pas1: LimitResult;
    /** The same PAS transaction with the process idle PAS_IDLE_MS before each call (absent in older reports). */
    pasIdle1?: LimitResult;
    queueKind: string;
    /** A bare Node http server answering the facade's /metadata bytes, same client, 1 connection. */
    http1?: LimitResult;
    /** Hono on @hono/node-server with no middleware answering the same bytes: the framework's floor. */
    hono1?: LimitResult;
    /** One audit record made durable (AuditLog.write), one at a time, on the stack's disk. */
    audit1?: LimitResult;
  };
  scenarios: ScenarioResult[];
  /** PAS integrity at the end: double-booked slots must be 0. */
  doubleBookedSlots: number;
  /** Warning and error lines from the facade's and workers' output during the run. */
  processWarnings: string[];
}

/**
 * One-connection comparisons (metadata vs bare http, booking vs bare queue) run in this many
 * alternating rounds, so a change in the machine's load hits both sides alike.
 */
const ROUNDS = 4;
/** Idle time before each bare PAS call of `pasIdle1`: about what a worker waits between the bookings of one connection. */
export const PAS_IDLE_MS = 4;

/** Sizes of each step; quick keeps the whole run well under a minute on 2 cores. */
function sizes(quick: boolean) {
  return quick
    ? { search: 200, search1000: 64, book1: 60, book64: 1500, contendedSlots: 50, read: 1000, cancel: 300, queue1: 200, queue64: 2000, pas: 200, pasIdle: 60, slots: 6000, serial: 200, audit: 200 }
    : { search: 1500, search1000: 320, book1: 800, book64: 6000, contendedSlots: 400, read: 6000, cancel: 2000, queue1: 800, queue64: 10000, pas: 1000, pasIdle: 300, slots: 30000, serial: 2000, audit: 1000 };
}

const BASE_PATH = '/STU3/1';
const SERVICE = '999999999';
const ALL_INCLUDES = [
  '_include=Slot:schedule',
  '_include:iterate=Schedule:actor:Practitioner',
  '_include:iterate=Schedule:actor:PractitionerRole',
  '_include:iterate=Schedule:actor:HealthcareService',
  '_include:iterate=HealthcareService:location',
  '_include=HealthcareService:providedBy',
].join('&');

function cpuPerRequest(r: DriveResult): ScenarioResult['cpuMsPerRequest'] {
  const c = r.cpuMsPerRequest;
  const round = (n: number | undefined) => Number((n ?? Number.NaN).toFixed(2));
  const workers = Object.entries(c).filter(([k]) => k.startsWith('worker')).reduce((a, [, v]) => a + v, 0);
  return { facade: round(c.facade), workers: round(workers), redis: round(c.redis), loadgen: round(c.loadgen) };
}

function reloadPas(path: string, slotCount: number): void {
  const pas = new SqlitePas({ path });
  loadDemoDataSqlite(pas.db, generateDemoData({ slotCount }));
  pas.db.pragma('wal_checkpoint(TRUNCATE)');
  void pas.close();
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const size = sizes(options.quick);
  const loadBefore = loadavg();
  const log = options.log;
  const want = (name: string) => !options.only?.length || options.only.some((o) => name.startsWith(o));
  const redis = await startRedis();
  const env: Record<string, string> = options.nodeFlags.length ? { NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', ...options.nodeFlags].join(' ').trim() } : {};
  log(`redis on ${redis.url}; starting ${options.workers} workers and a facade…`);
  const stack = await Stack.start({ redisUrl: redis.url, workers: options.workers, slotCount: 1000, env, runtime: options.runtime ?? 'ts' }).catch(async (error: unknown) => {
    await redis.stop();
    throw error;
  });
  let bare: Awaited<ReturnType<typeof startBareHttp>> | undefined;
  let bareHono: Awaited<ReturnType<typeof startBareHttp>> | undefined;
  try {
    const origin = new URL(stack.baseUrl).origin;
    const facade = stack.facades[0];
    const pids = {
      facade: facade?.child.pid as number,
      ...Object.fromEntries(stack.workers.map((w, i) => [`worker${i}`, w.child.pid as number])),
      redis: redis.process.pid as number,
      loadgen: process.pid,
    };
    // gzip asked for, as the assurance harness and NHS consumers do (spec §3.2): answers are gzipped.
    const headers = (interaction: InteractionName, extra: Record<string, string> = {}) => consumerHeaders(stack.baseUrl, interaction, { 'Accept-Encoding': 'gzip', ...extra });
    const scenarios: ScenarioResult[] = [];
    const record = (name: string, description: string, connections: number, r: DriveResult, expected: number[], notes: ScenarioResult['notes'] = {}) => {
      const unexpected = Object.entries(r.statuses).reduce((n, [s, c]) => (expected.includes(Number(s)) ? n : n + c), 0) + r.errors;
      const worker = Math.max(...Object.entries(r.rssPeakMb).filter(([k]) => k.startsWith('worker')).map(([, v]) => v));
      const result: ScenarioResult = {
        name, description, connections, requests: r.requests, seconds: r.seconds, throughput: r.throughput, latency: r.latency,
        statuses: r.statuses, non2xx: r.non2xx, unexpected, errors: r.errors + r.timeouts, rssPeakMb: { facade: r.rssPeakMb.facade ?? Number.NaN, worker }, cpuMsPerRequest: cpuPerRequest(r), notes,
      };
      scenarios.push(result);
      log(`${name}: ${r.throughput.toFixed(0)} req/s, p50 ${r.latency.p50.toFixed(1)} ms, p99 ${r.latency.p99.toFixed(1)} ms, statuses ${JSON.stringify(r.statuses)}, errors ${r.errors}, RSS facade ${result.rssPeakMb.facade.toFixed(0)} MB worker ${worker.toFixed(0)} MB, CPU ms/req ${JSON.stringify(result.cpuMsPerRequest)}`);
      return result;
    };

    // The facade's own floor: GET /metadata is answered by the facade alone (HTTP, middleware, no queue).
    let http1: LimitResult | undefined;
    let hono1: LimitResult | undefined;
    const metadata = (): BenchRequest => ({ method: 'GET', path: `${BASE_PATH}/metadata`, headers: headers('metadata') });
    if (want('metadata')) {
      await drive({ origin, connections: 8, amount: 300, build: metadata, pids });
      // A bare Node http server, and Hono with no middleware, each with the facade's very answer
      // (bytes and headers), driven by the same client in rounds alternating with the facade.
      const sample = await rawRequest(`${stack.baseUrl}/metadata`, { headers: headers('metadata') }); // gzipped, as the facade sends it
      const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
      const answerHeaders = Object.fromEntries(Object.entries(sample.headers).filter(([k]) => !skip.has(k)).map(([k, v]) => [k, String(v)]));
      bare = await startBareHttp(sample.body, answerHeaders);
      bareHono = await startBareHttp(sample.body, answerHeaders, 'hono');
      const barePids = { bare: bare.pid, loadgen: process.pid };
      const honoPids = { bare: bareHono.pid, loadgen: process.pid };
      await drive({ origin: bare.origin, connections: 8, amount: 300, build: metadata, pids: barePids });
      await drive({ origin: bareHono.origin, connections: 8, amount: 300, build: metadata, pids: honoPids });
      const bareRuns: DriveResult[] = [];
      const honoRuns: DriveResult[] = [];
      const metaRuns: DriveResult[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        bareRuns.push(await drive({ origin: bare.origin, connections: 1, amount: size.serial / ROUNDS, build: metadata, pids: barePids }));
        honoRuns.push(await drive({ origin: bareHono.origin, connections: 1, amount: size.serial / ROUNDS, build: metadata, pids: honoPids }));
        metaRuns.push(await drive({ origin, connections: 1, amount: size.serial / ROUNDS, build: metadata, pids }));
      }
      const asLimit = (d: DriveResult): LimitResult => ({ inFlight: 1, requests: d.requests, seconds: d.seconds, throughput: d.throughput, latency: d.latency, errors: d.errors, cpuMsPerRequest: d.cpuMsPerRequest });
      http1 = asLimit(mergeDrives(bareRuns));
      hono1 = asLimit(mergeDrives(honoRuns));
      log(`bare http (1 connection): p50 ${http1.latency.p50.toFixed(2)} ms, CPU ms/req ${JSON.stringify(http1.cpuMsPerRequest)}`);
      log(`Hono, no middleware (1 connection): p50 ${hono1.latency.p50.toFixed(2)} ms, CPU ms/req ${JSON.stringify(hono1.cpuMsPerRequest)}`);
      record('metadata-1', `GET /metadata, 1 connection (${ROUNDS} rounds alternating with the bare http server and Hono with no middleware)`, 1, mergeDrives(metaRuns), [200]);
      const r = await drive({ origin, connections: 64, amount: size.read, build: metadata, pids });
      record('metadata-64', 'GET /metadata (answered by the facade alone: its HTTP and middleware floor), 64 connections', 64, r, [200]);
      await bare.stop();
      await bareHono.stop();
      bare = undefined;
      bareHono = undefined;
    }

    // Slot search over tomorrow's local day (40 slots), with every _include, on 1,000 then 100,000 slots.
    const day = DateTime.now().setZone('Europe/London').plus({ days: 1 }).toISODate();
    const searchPath = `${BASE_PATH}/Slot?schedule.actor:healthcareservice=${SERVICE}&start=${day}&status=free&${ALL_INCLUDES}&_format=json`;
    const search = (): BenchRequest => ({ method: 'GET', path: searchPath, headers: headers('searchSlot') });
    if (want('search')) await drive({ origin, connections: 8, amount: 200, build: search, pids }); // warm-up: JIT, connections, SQLite caches
    for (const slotCount of want('search') ? [1000, 100000] : []) {
      if (slotCount !== 1000) {
        log(`reloading the PAS with ${slotCount} slots…`);
        reloadPas(stack.pasPath, slotCount);
        await drive({ origin, connections: 8, amount: 100, build: search, pids });
      }
      const r = await drive({ origin, connections: 64, amount: size.search, build: search, pids });
      record(`search-${slotCount / 1000}k`, `GET /Slot, one day (40 slots), all _include, ${slotCount.toLocaleString('en-GB')} slots in the PAS, 64 connections`, 64, r, [200]);
    }
    // The largest answers the facade gives: 1,000 slots (MAX_SLOT_COUNT) with every _include, 64 at once.
    // Not in quick runs (the regression guard) unless named: it sizes the heap cap, it guards nothing.
    if (want('search-1000') && (!options.quick || options.only?.some((o) => o.startsWith('search-1000')))) {
      if (!want('search')) reloadPas(stack.pasPath, 100000);
      const to = DateTime.now().setZone('Europe/London').plus({ days: 40 }).toISODate();
      const path = `${BASE_PATH}/Slot?schedule.actor:healthcareservice=${SERVICE}&start=ge${day}&start=lt${to}&status=free&_count=1000&${ALL_INCLUDES}&_format=json`;
      const big = (): BenchRequest => ({ method: 'GET', path, headers: headers('searchSlot') });
      const plainBig = (): BenchRequest => ({ method: 'GET', path, headers: headers('searchSlot', { 'Accept-Encoding': 'identity' }) }); // a body to count slots in
      let slotsPerAnswer = 0;
      await drive({ origin, connections: 4, amount: 8, build: plainBig, pids, onResponse: (status, body) => void (status === 200 && (slotsPerAnswer = (JSON.parse(body) as { entry?: { resource: { resourceType: string } }[] }).entry?.filter((e) => e.resource.resourceType === 'Slot').length ?? 0)) });
      const r = await drive({ origin, connections: 64, amount: size.search1000, build: big, pids });
      record('search-1000', 'GET /Slot, 1,000 slots per answer (_count=1000, 40 days), all _include, 100,000 slots in the PAS, 64 connections', 64, r, [200], { slotsPerAnswer });
    }

    // Fresh data for the writes: every booking gets a slot of its own.
    log(`reloading the PAS with ${size.slots} slots for the writes…`);
    reloadPas(stack.pasPath, size.slots);
    const db = stack.openPas();
    const pool = freeSlots(db, SERVICE, size.slots);
    db.close();
    let nextSlot = 0;
    const take = (n: number): SlotForBooking[] => {
      const taken = pool.slice(nextSlot, nextSlot + n);
      nextSlot += n;
      if (taken.length < n) throw new Error(`only ${pool.length} free slots: raise the slot count`);
      return taken;
    };

    // Limits, right before the booking scenarios they are compared with.
    const target = { redisUrl: redis.url, prefix: stack.queuePrefix, keys: stack.queueKeys };
    const audit1 = await auditWrite(stack.dir, size.audit);
    log(`audit record on disk (AuditLog.write, one at a time): p50 ${audit1.latency.p50.toFixed(3)} ms, p95 ${audit1.latency.p95.toFixed(3)} ms`);
    log('bare queue (PasQueueClient noop → worker processes → reply)…');
    const queue64 = await bareQueue(target, 64, size.queue64, pids);
    log(`bare queue at 64 in flight: ${queue64.throughput.toFixed(0)}/s p99 ${queue64.latency.p99.toFixed(1)} ms, CPU ms/round trip ${JSON.stringify(queue64.cpuMsPerRequest)}`);
    const pas1 = await barePas(stack.pasPath, take(size.pas));
    log(`bare PAS book: ${pas1.throughput.toFixed(0)}/s p50 ${pas1.latency.p50.toFixed(2)} ms, CPU ms ${JSON.stringify(pas1.cpuMsPerRequest)}`);
    // The same transaction once per wake-up, as each booking at one connection runs it.
    const pasIdle1 = await barePas(stack.pasPath, take(size.pasIdle), PAS_IDLE_MS);
    log(`bare PAS book after ${PAS_IDLE_MS} ms idle: p50 ${pasIdle1.latency.p50.toFixed(2)} ms, CPU ms ${JSON.stringify(pasIdle1.cpuMsPerRequest)}`);

    // Booking into distinct free slots; the ids booked are kept for the read and cancel scenarios.
    const booked: string[] = [];
    const booking = (slots: SlotForBooking[]) => (i: number): BenchRequest => {
      const slot = slots[i % slots.length] as SlotForBooking;
      return { method: 'POST', path: `${BASE_PATH}/Appointment`, headers: headers('book', { 'X-Request-ID': randomUUID() }), body: JSON.stringify(bookingBody(slot)) };
    };
    await drive({ origin, connections: 16, amount: 200, build: booking(take(200)), pids }); // warm-up
    // Booking at one connection in rounds alternating with the bare queue at one in flight.
    const queueRuns: LimitResult[] = [];
    const bookRuns: DriveResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      queueRuns.push(await bareQueue(target, 1, size.queue1 / ROUNDS, pids));
      if (want('book-1')) {
        const slots = take(size.book1 / ROUNDS);
        bookRuns.push(await drive({ origin, connections: 1, amount: slots.length, build: booking(slots), pids }));
      }
    }
    const queue1 = mergeLimits(queueRuns);
    log(`bare queue at 1 in flight: p50 ${queue1.latency.p50.toFixed(2)} ms`);
    if (bookRuns.length) record('book-1', `POST /Appointment, distinct free slots, 1 connection (${ROUNDS} rounds alternating with the bare queue)`, 1, mergeDrives(bookRuns), [201]);
    if (want('book-64') || want('read') || want('cancel')) {
      const slots = take(size.book64);
      const r = await drive({ origin, connections: 64, amount: slots.length, build: booking(slots), pids, onResponse: (status, _body, answer) => keepBookedId(status, answer, booked) });
      record('book-64', 'POST /Appointment, distinct free slots, 64 connections', 64, r, [201]);
    }

    // Contention: ten contenders per slot, adjacent in send order so they race each other.
    if (want('book-contended')) {
      const slots = take(size.contendedSlots);
      const r = await drive({
        origin, connections: 64, amount: slots.length * 10, pids,
        build: (i) => ({ method: 'POST', path: `${BASE_PATH}/Appointment`, headers: headers('book', { 'X-Request-ID': randomUUID() }), body: JSON.stringify(bookingBody(slots[Math.floor(i / 10)] as SlotForBooking)) }),
      });
      const check = stack.openPas();
      const ids = slots.map((s) => Number(s.id));
      const active = check
        .prepare(`SELECT SLOT_ID, COUNT(*) AS n FROM APPOINTMENT WHERE APPT_STATUS = 'B' AND SLOT_ID IN (${ids.map(() => '?').join(',')}) GROUP BY SLOT_ID`)
        .all(...ids) as { SLOT_ID: number; n: number }[];
      check.close();
      const exactlyOne = active.length === slots.length && active.every((a) => a.n === 1);
      const created = r.statuses['201'] ?? 0;
      record('book-contended', `POST /Appointment, ${slots.length} slots × 10 contenders, 64 connections`, 64, r, [201, 422], {
        slots: slots.length, created, createdEqualsSlots: created === slots.length, exactlyOneActivePerSlot: exactlyOne,
      });
    }

    // Read by id, over the appointments booked above.
    if (want('read')) {
      const r = await drive({ origin, connections: 64, amount: size.read, pids, build: (i) => ({ method: 'GET', path: `${BASE_PATH}/Appointment/${booked[i % booked.length]}`, headers: headers('read') }) });
      record('read-64', `GET /Appointment/{id} over ${booked.length} appointments, 64 connections`, 64, r, [200]);
    }

    // Cancel each booked appointment once, with its ETag (version 1) as If-Match.
    if (want('cancel')) {
      const targets = await readAppointments(stack.baseUrl, booked.slice(0, size.cancel), headers('read')); // the bodies to send back cancelled
      const r = await drive({
        origin, connections: 64, amount: targets.length, pids,
        build: (i) => {
          const a = targets[i] as { id: string };
          return { method: 'PUT', path: `${BASE_PATH}/Appointment/${a.id}`, headers: headers('cancel', { 'X-Request-ID': randomUUID(), 'If-Match': 'W/"1"' }), body: JSON.stringify({ ...a, status: 'cancelled' }) };
        },
      });
      record('cancel-64', `PUT /Appointment/{id} (cancel), ${targets.length} distinct appointments once each, 64 connections`, 64, r, [200]);
    }

    if (options.soakSeconds > 0) scenarios.push(await soak(options, stack, origin, pids, headers, search));

    // Warnings and errors the product printed under load (e.g. Node's MaxListenersExceededWarning).
    const processWarnings = [...new Set(stack.logs().split('\n').filter((l) => /warning|error|"level":(50|60)/i.test(l)).map((l) => l.slice(0, 300)))].slice(0, 20);
    const final = stack.openPas();
    const doubleBookedSlots = pasCounts(final).doubleBookedSlots;
    final.close();
    return {
      command: '',
      date: new Date().toISOString(),
      machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, loadBefore, loadAfter: loadavg() },
      options: { quick: options.quick, workers: options.workers, soakSeconds: options.soakSeconds, nodeFlags: options.nodeFlags, runtime: options.runtime ?? 'ts' },
      ran: { facade: stack.commandLine('facade'), worker: stack.commandLine('worker') },
      limits: { queue1: strip(queue1), queue64: strip(queue64), pas1: strip(pas1), pasIdle1: strip(pasIdle1), queueKind: 'product PasQueueClient (sealed noop job, real worker processes)', ...(http1 ? { http1 } : {}), ...(hono1 ? { hono1 } : {}), audit1: strip(audit1) },
      scenarios,
      doubleBookedSlots,
      processWarnings,
    };
  } finally {
    await bare?.stop();
    await bareHono?.stop();
    await stack.stop();
    await redis.stop();
  }
}

/** A limit without its raw samples (report.json stays small). */
function strip(l: LimitResult): LimitResult {
  const { samples: _, ...rest } = l;
  return rest;
}

/**
 * The soak: a mix of booking (a new slot each, paced so the slots last), read and search at 64
 * connections for N seconds on a PAS reloaded with 100,000 slots. RSS growth = peak over the last minute vs the peak over the
 * minute after a 30 s warm-up.
 */
async function soak(
  options: BenchOptions,
  stack: Stack,
  origin: string,
  pids: Record<string, number>,
  headers: (interaction: InteractionName, extra?: Record<string, string>) => Record<string, string>,
  search: () => BenchRequest,
): Promise<ScenarioResult> {
  const seconds = options.soakSeconds;
  options.log(`soak: reloading the PAS with 100000 slots, then ${seconds} s of book/read/search at 64 connections…`);
  reloadPas(stack.pasPath, 100000);
  const db = stack.openPas();
  const pool = freeSlots(db, SERVICE, 100000);
  db.close();
  const ids: string[] = [];
  let nextSlot = 0;
  // Bookings are paced to spread the slots over the whole soak, so the mix stays the same to the end.
  const started = performance.now();
  const bookable = () => nextSlot < pool.length * Math.min(1, (performance.now() - started) / (seconds * 1000) + 0.01);
  const r = await drive({
    origin, connections: 64, seconds, pids,
    onResponse: (status, _body, answer) => {
      if (ids.length < 5000) keepBookedId(status, answer, ids);
    },
    build: (i) => {
      const slot = pool[nextSlot];
      if (i % 3 === 0 && slot && bookable()) {
        nextSlot++;
        return { method: 'POST', path: `${BASE_PATH}/Appointment`, headers: headers('book', { 'X-Request-ID': randomUUID() }), body: JSON.stringify(bookingBody(slot)) };
      }
      if (i % 3 !== 2 && ids.length > 0) return { method: 'GET', path: `${BASE_PATH}/Appointment/${ids[i % ids.length]}`, headers: headers('read') };
      return search();
    },
  });
  const early = r.sampler.peaksBetween(30, 90);
  const late = r.sampler.peaksBetween(Math.max(90, seconds - 60), seconds + 5);
  const growth = (name: string) => (late[name] as number) / (early[name] as number) - 1;
  const workerNames = Object.keys(pids).filter((k) => k.startsWith('worker'));
  // (redis and loadgen are sampled too; only the product's processes count for growth)
  const notes = {
    facadeEarlyMb: Number(early.facade?.toFixed(1)), facadeLateMb: Number(late.facade?.toFixed(1)), facadeGrowth: Number(growth('facade').toFixed(3)),
    workerEarlyMb: Number(Math.max(...workerNames.map((w) => early[w] as number)).toFixed(1)), workerLateMb: Number(Math.max(...workerNames.map((w) => late[w] as number)).toFixed(1)),
    workerGrowth: Number(Math.max(...workerNames.map(growth)).toFixed(3)),
  };
  const unexpected = Object.entries(r.statuses).reduce((n, [s, c]) => (['200', '201'].includes(s) ? n : n + c), 0) + r.errors;
  const worker = Math.max(...workerNames.map((w) => r.rssPeakMb[w] as number));
  options.log(`soak: ${r.throughput.toFixed(0)} req/s, statuses ${JSON.stringify(r.statuses)}, RSS ${JSON.stringify(notes)}`);
  return {
    name: 'soak-64', description: `book/read/search mix, 64 connections, ${seconds} s`, connections: 64, requests: r.requests, seconds: r.seconds, throughput: r.throughput,
    latency: r.latency, statuses: r.statuses, non2xx: r.non2xx, unexpected, errors: r.errors + r.timeouts, rssPeakMb: { facade: r.rssPeakMb.facade as number, worker }, cpuMsPerRequest: cpuPerRequest(r), notes,
  };
}

/** The id of a 201's Appointment, from its Location (…/Appointment/{id}/_history/1): its body is gzipped. */
function keepBookedId(status: number, headers: Record<string, string | string[]>, ids: string[]): void {
  if (status !== 201) return;
  const location = Object.entries(headers).find(([name]) => name.toLowerCase() === 'location')?.[1];
  const id = /\/Appointment\/([^/]+)\/_history\//.exec(String(location))?.[1];
  if (id) ids.push(id);
}

/** Reads appointments by id (fetch inflates the gzipped answers), 16 at a time, outside any measurement. */
async function readAppointments(baseUrl: string, ids: string[], headers: Record<string, string>): Promise<({ id: string } & Record<string, unknown>)[]> {
  const out: ({ id: string } & Record<string, unknown>)[] = [];
  let next = 0;
  const reader = async () => {
    while (next < ids.length) {
      const at = next++;
      const res = await fetch(`${baseUrl}/Appointment/${ids[at]}`, { headers });
      if (res.status !== 200) throw new Error(`reading Appointment/${ids[at]} for the cancel scenario: ${res.status}`);
      out[at] = (await res.json()) as { id: string } & Record<string, unknown>;
    }
  };
  await Promise.all(Array.from({ length: 16 }, reader));
  return out;
}
