import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { createFacadeMetrics } from '../src/observability/metrics.js';
import { serveConsumer } from '../src/security/listener.js';

/** The answers the consumer listener writes itself (Node refused the request before Hono saw it), in process over plain HTTP. */

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function listener() {
  const dir = mkdtempSync(join(tmpdir(), 'listener-'));
  const audit = new AuditLog(dir);
  const metrics = createFacadeMetrics([]);
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const log = (level: string) => (obj: object, msg: string) => lines.push({ level, obj: obj as Record<string, unknown>, msg });
  const port = await new Promise<number>((resolve) => {
    const server: Server = serveConsumer({
      fetch: () => new Response('ok'),
      hostname: '127.0.0.1',
      port: 0,
      maxHeaderBytes: 4096,
      keepAliveTimeoutMs: 5000,
      limits: { maxConnections: 100, maxPerAddress: 100, maxHandshakesPerAddress: 100 },
      audit,
      logger: { info: log('info'), warn: log('warn'), error: log('error') },
      metrics,
      onListening: (info) => resolve(info.port),
    });
    cleanup.push(async () => {
      await new Promise((done) => server.close(done));
      await audit.close();
      rmSync(dir, { recursive: true, force: true });
    });
  });
  return { port, metrics, lines };
}

function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let got = '';
    socket.on('data', (d) => {
      got += d;
    });
    socket.on('close', () => resolve(got));
    socket.on('error', () => resolve(got));
  });
}

describe('answers the listener writes itself', () => {
  it('a 431 (headers too large) and a 400 (not HTTP) are logged at info and counted in booking_http_requests_total, interaction "none"', async () => {
    const { port, metrics, lines } = await listener();
    const big = await raw(port, `GET /STU3/1/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'x'.repeat(8000)}\r\n\r\n`);
    const garbage = await raw(port, 'GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^booking_http_requests_total\{interaction="none",status="431"\} 1$/m);
    expect(text).toMatch(/^booking_http_requests_total\{interaction="none",status="400"\} 1$/m);
    const requestIdOf = (answer: string) => /X-Request-ID: (\S+)/i.exec(answer)?.[1];
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 'info', obj: expect.objectContaining({ status: 431, interaction: 'none', reason: 'HPE_HEADER_OVERFLOW', requestId: requestIdOf(big) }) }),
        expect.objectContaining({ level: 'info', obj: expect.objectContaining({ status: 400, interaction: 'none', requestId: requestIdOf(garbage) }) }),
      ]),
    );
  });
});
