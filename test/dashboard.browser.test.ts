import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bookingBody, consumerHeaders } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { stopProcess } from './support/redis.js';
import { ADMIN_CREDENTIALS, REPO_ROOT, Stack } from './support/stack.js';

/**
 * The queue dashboard (issue item 1) in Debian's headless Chromium, driven by playwright-core (no
 * browser download). The screenshot is kept as a test artefact in test-results/dashboard.png.
 */

const CHROMIUM = '/usr/bin/chromium';
const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

let stack: Stack;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1 });
});
afterAll(async () => {
  await stack?.stop();
});

async function bookOne(family: string) {
  const db = stack.openPas();
  const [slot] = freeSlots(db, undefined, 1);
  db.close();
  const res = await fetch(`${stack.baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(stack.baseUrl, 'book'), body: JSON.stringify(bookingBody(slot!, { family })) });
  expect(res.status).toBe(201);
}

describe('queue dashboard', () => {
  it('asks for the admin credentials and is absent from the consumer listener', async () => {
    const admin = stack.facades[0]!.adminUrl;
    const none = await fetch(`${admin}/dashboard`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect((await fetch(`${admin}/dashboard/api/queues`, { headers: { Authorization: basic('admin', 'wrong-password-123') } })).status).toBe(401);
    expect((await fetch(`${admin}/dashboard/api/queues`, { headers: { Authorization: basic(ADMIN_CREDENTIALS.username, ADMIN_CREDENTIALS.password) } })).status).toBe(200);
    // Health stays open for probes.
    expect((await fetch(`${admin}/health/live`)).status).toBe(200);
    // The consumer listener knows nothing of it.
    const consumerSide = await fetch(`${stack.baseUrl.replace(/\/STU3\/1$/, '')}/dashboard`);
    expect(consumerSide.status).toBe(404);
  });

  it.skipIf(!existsSync(CHROMIUM))('shows the booking queue with a completed job to a logged-in browser, without patient data', async () => {
    await bookOne('Dashboard-Secret-Family');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const context = await browser.newContext({ httpCredentials: ADMIN_CREDENTIALS, viewport: { width: 1400, height: 900 } });
      const page = await context.newPage();
      const admin = stack.facades[0]!.adminUrl;
      // The admin CSP blocks nothing the dashboard needs (only Bull Board's Google web fonts, on purpose).
      const violations: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text()) && !/fonts\.googleapis\.com/.test(message.text())) violations.push(message.text());
      });

      await page.goto(`${admin}/dashboard/`);
      await page.getByText('pas-requests', { exact: false }).first().waitFor({ timeout: 15000 });

      await page.goto(`${admin}/dashboard/queue/pas-requests?status=completed`);
      // A completed job's card shows the ids we keep, not the payload.
      await page.getByText('traceRequestId', { exact: false }).first().waitFor({ timeout: 15000 });
      const text = await page.locator('body').innerText();
      expect(text).toMatch(/completed/i);
      expect(text).not.toContain('Dashboard-Secret-Family');
      expect(text).not.toContain('9658218873');
      expect(violations).toEqual([]);

      mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', 'dashboard.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('is look-only with DASHBOARD_READ_ONLY=true, and /metrics asks for METRICS_TOKEN when one is set', async () => {
    const token = 'metrics-token-for-the-test-0123';
    const facade = await stack.startFacade({ DASHBOARD_READ_ONLY: 'true', METRICS_TOKEN: token });
    try {
      const adminUrl = facade.adminUrl;
      await stack.waitReady(facade);
      const res = await fetch(`${adminUrl}/dashboard/api/queues`, { headers: { Authorization: basic(ADMIN_CREDENTIALS.username, ADMIN_CREDENTIALS.password) } });
      const body = (await res.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
      expect(body.queues.map((q) => [q.name, q.readOnlyMode])).toEqual([['pas-requests', true]]);
      // The same dashboard on the stack's own facade is not read-only.
      const rw = await fetch(`${stack.facades[0]!.adminUrl}/dashboard/api/queues`, { headers: { Authorization: basic(ADMIN_CREDENTIALS.username, ADMIN_CREDENTIALS.password) } });
      expect(((await rw.json()) as typeof body).queues[0]?.readOnlyMode).toBe(false);

      expect((await fetch(`${adminUrl}/metrics`)).status).toBe(401);
      expect((await fetch(`${adminUrl}/metrics`, { headers: { Authorization: 'Bearer not-the-token' } })).status).toBe(401);
      const metrics = await fetch(`${adminUrl}/metrics`, { headers: { Authorization: `Bearer ${token}` } });
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('booking_http_requests_total');
    } finally {
      await stopProcess(facade.child);
    }
  });
});
