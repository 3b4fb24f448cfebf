import type { IncomingHttpHeaders } from 'node:http';
import autocannon from 'autocannon';
import { RssSampler } from './rss.js';
import { type LatencySummary, summarise } from './stats.js';

/** One HTTP request of a scenario, built afresh for each send (distinct ids, slots, bodies). */
export interface BenchRequest {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface DriveOptions {
  /** Origin of the facade, e.g. http://127.0.0.1:1234 */
  origin: string;
  connections: number;
  /** Exactly this many requests (bounded loop)… */
  amount?: number;
  /** …or as many as fit in this many seconds. */
  seconds?: number;
  /** The i-th request sent (0-based, in send order). */
  build: (i: number) => BenchRequest;
  /** Processes whose RSS is sampled every 100 ms during the run. */
  pids: Record<string, number>;
  /**
   * Sees each answer's status, body and headers (e.g. to keep booked appointments' ids for later
   * scenarios). The body is autocannon's text of the bytes: unusable when the answer is gzipped.
   */
  onResponse?: (status: number, body: string, headers: Record<string, string | string[]>) => void;
}

export interface DriveResult {
  requests: number;
  seconds: number;
  throughput: number;
  latency: LatencySummary;
  /** Count per HTTP status. */
  statuses: Record<string, number>;
  non2xx: number;
  /** Connection errors and timeouts (no HTTP answer). */
  errors: number;
  timeouts: number;
  rssPeakMb: Record<string, number>;
  /** CPU ms per request of each sampled process (facade, workers, redis, the load generator). */
  cpuMsPerRequest: Record<string, number>;
  sampler: RssSampler;
  /** Every latency in ms (for merging rounds; not written to report.json). */
  samples: number[];
}

/** Several runs of the same requests (e.g. rounds interleaved with a limit) as one result. */
export function mergeDrives(runs: DriveResult[]): DriveResult {
  const samples = runs.flatMap((r) => r.samples);
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const sum = (pick: (r: DriveResult) => Record<string, number>, weighted: boolean) => {
    const out: Record<string, number> = {};
    for (const r of runs) for (const [k, v] of Object.entries(pick(r))) out[k] = weighted ? (out[k] ?? 0) + (v * r.requests) / Math.max(1, requests) : Math.max(out[k] ?? 0, v);
    return out;
  };
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    requests, seconds, throughput: requests / seconds, latency: summarise(samples), statuses,
    non2xx: runs.reduce((n, r) => n + r.non2xx, 0), errors: runs.reduce((n, r) => n + r.errors, 0), timeouts: runs.reduce((n, r) => n + r.timeouts, 0),
    rssPeakMb: sum((r) => r.rssPeakMb, false), cpuMsPerRequest: sum((r) => r.cpuMsPerRequest, true), sampler: runs.at(-1)?.sampler as RssSampler, samples,
  };
}

/** Drives the facade with autocannon; latencies come from every response, not autocannon's histogram. */
export async function drive(options: DriveOptions): Promise<DriveResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let sent = 0;
  // Timed from the first request built to the last answer: autocannon's own end is on a 1 s tick.
  let first = Number.NaN;
  let last = Number.NaN;
  const sampler = new RssSampler(options.pids);
  const started = performance.now();
  let finish!: (result: autocannon.Result) => void;
  let fail!: (error: Error) => void;
  const done = new Promise<autocannon.Result>((res, rej) => ((finish = res), (fail = rej)));
  const instance = autocannon({
    url: options.origin,
    connections: options.connections,
    ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.seconds ?? 10 }),
    // Longer than the facade's job timeout, so a slow answer is measured rather than dropped.
    timeout: 30,
    requests: [
      {
        setupRequest: (req) => {
          if (sent === 0) first = performance.now();
          const r = options.build(sent++);
          return { ...req, method: r.method, path: r.path, headers: r.headers, body: r.body ?? '' };
        },
        ...(options.onResponse ? { onResponse: (status: number, body: string, _context: object, headers: IncomingHttpHeaders | undefined) => options.onResponse?.(status, body, (headers ?? {}) as Record<string, string | string[]>) } : {}),
      },
    ],
  }, (error, result) => (error ? fail(error) : finish(result)));
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
    last = performance.now();
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
  });
  const result = await done;
  const seconds = (last - first) / 1000 || (performance.now() - started) / 1000;
  sampler.stop();
  const requests = latencies.length;
  const cpu = sampler.cpuUsed();
  return {
    requests,
    seconds,
    throughput: requests / seconds,
    latency: summarise(latencies),
    statuses,
    non2xx: Object.entries(statuses).reduce((n, [s, c]) => (Number(s) >= 300 ? n + c : n), 0),
    errors: result.errors,
    timeouts: result.timeouts,
    rssPeakMb: sampler.peaks(),
    cpuMsPerRequest: Object.fromEntries(Object.entries(cpu).map(([name, ms]) => [name, ms / Math.max(1, requests)])),
    sampler,
    samples: latencies,
  };
}
