import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { bookingBody, consumerHeaders } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { Stack } from './support/stack.js';

/**
 * One booking is one trace across both processes: facade HTTP span → BullMQ add → worker process
 * → PAS book. The issue asks for an in-memory exporter; with two real processes the faithful
 * version is to let both export over OTLP/HTTP (JSON) to a tiny receiver in this test process and
 * hold the spans in memory here.
 */

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
}

const spans: ReceivedSpan[] = [];
let receiver: Server;
let stack: Stack;

interface OtlpJson {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: { spans?: Omit<ReceivedSpan, 'service'>[] }[];
  }[];
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as OtlpJson;
        for (const rs of body.resourceSpans ?? []) {
          const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
          for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId, name: s.name, kind: s.kind });
        }
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  stack = await Stack.start({
    redisUrl: inject('redisUrl'),
    workers: 1,
    // Export within a fraction of a second instead of the SDK's default 5 s batches.
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_BSP_SCHEDULE_DELAY: '100' },
  });
});
afterAll(async () => {
  await stack?.stop();
  receiver?.close();
});

it('follows one booking from the facade through the queue and the worker to the PAS in one trace', async () => {
  const db = stack.openPas();
  const [slot] = freeSlots(db, undefined, 1);
  db.close();
  const res = await fetch(`${stack.baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(stack.baseUrl, 'book'), body: JSON.stringify(bookingBody(slot!)) });
  expect(res.status).toBe(201);

  // Spans arrive in batches from two processes: wait until the whole parent chain is in.
  let trace: ReceivedSpan[] = [];
  let chain: string[] = [];
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const server = spans.find((s) => s.service === 'booking-facade' && s.name === 'POST book');
    trace = server ? spans.filter((s) => s.traceId === server.traceId) : [];
    // Parent links from the PAS call up towards the facade's server span (the trace root).
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    chain = [];
    for (let s = trace.find((t) => t.name === 'pas.book'); s; s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined) chain.push(`${s.service} ${s.name}`);
    if (chain.at(-1) === 'booking-facade POST book') break;
    await sleep(100);
  }
  const summary = trace.map((s) => `${s.service} ${s.name}`);
  expect(summary).toEqual(expect.arrayContaining(['booking-facade POST book', 'booking-worker pas.book']));
  expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['booking-facade', 'booking-worker']));

  expect(chain[0]).toBe('booking-worker pas.book');
  expect(chain.at(-1), JSON.stringify({ chain, summary })).toBe('booking-facade POST book');
  expect(chain.some((c) => c.startsWith('booking-worker process'))).toBe(true);
  expect(chain.some((c) => c.startsWith('booking-facade add'))).toBe(true);
});
