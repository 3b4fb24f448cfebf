import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAdminApp } from '../apps/facade/src/admin.js';
import type { AuditLog, AuditRecord } from '../apps/facade/src/audit/log.js';
import type { PasQueueClient } from '../apps/facade/src/queue-client.js';

/**
 * The queue dashboard refuses actions a page elsewhere could make a logged-in browser send (its
 * HTTP Basic credentials go with every request): a form's text/plain body, which Bull Board would
 * read as JSON, or an Origin of another site. Its own page (fetch, JSON, same Origin) and scripts
 * without Origin keep working. In-process against a real Redis queue.
 */

const user = 'admin';
const password = 'a-long-admin-password-0123';
const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
let queue: Queue;
let admin: ReturnType<typeof createAdminApp>;
const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
const audited: AuditRecord[] = [];

beforeAll(async () => {
  queue = new Queue('pas-requests', { connection: { url: inject('redisUrl') } as never, prefix: `csrf-${randomUUID().slice(0, 8)}` });
  admin = createAdminApp({ queue } as unknown as PasQueueClient, {
    registry: new Registry(),
    dashboard: { username: user, password, readOnly: false },
    logger: { warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }), error() {} },
    audit: { write: async (record: AuditRecord) => void audited.push(record) } as unknown as AuditLog,
  });
});
afterAll(async () => {
  await queue?.obliterate({ force: true });
  await queue?.close();
});

const HOST = '127.0.0.1:9090';
const add = (headers: Record<string, string>, body = '{"name":"book","data":{"kind":"book"},"options":{},"p":"="}') =>
  admin.request(`http://${HOST}/dashboard/api/queues/pas-requests/add`, { method: 'POST', headers: { Authorization: auth, Host: HOST, ...headers }, body });
const pause = (headers: Record<string, string>) => admin.request(`http://${HOST}/dashboard/api/queues/pas-requests/pause`, { method: 'PUT', headers: { Authorization: auth, Host: HOST, ...headers } });
const jobs = () => queue.getJobCountByTypes('waiting', 'paused', 'delayed', 'prioritized');

describe('queue dashboard actions from another site', () => {
  it('a cross-site text/plain form POST adds no job: 403, logged at warn and audited', async () => {
    warnings.length = 0;
    audited.length = 0;
    const res = await add({ 'Content-Type': 'text/plain', Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate' });
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/^Refused: a body of type "text\/plain", not application\/json/);
    expect(await jobs()).toBe(0);
    expect(warnings).toEqual([{ msg: 'queue dashboard action', obj: expect.objectContaining({ dashboardUser: user, action: 'queues/pas-requests/add', method: 'POST', status: 403, refused: expect.any(String) }) }]);
    expect(audited).toEqual([expect.objectContaining({ event: 'admin-action', status: 403, outcome: 'queues/pas-requests/add', reason: expect.stringMatching(/^CROSS_SITE_REFUSED: /), adminUser: user })]);
  });

  it('a JSON body from another Origin, an opaque Origin, or a browser saying cross-site without Origin is refused too', async () => {
    for (const headers of <Record<string, string>[]>[
      { 'Content-Type': 'application/json', Origin: 'https://evil.example' },
      { 'Content-Type': 'application/json', Origin: 'null' },
      { 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site' },
      { 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'same-site' },
    ]) {
      expect((await add(headers)).status, JSON.stringify(headers)).toBe(403);
    }
    expect((await pause({ Origin: 'http://evil.example:9090' })).status).toBe(403);
    expect(await queue.isPaused()).toBe(false);
    expect(await jobs()).toBe(0);
  });

  it('the dashboard’s own page (JSON, same Origin or Sec-Fetch-Site: same-origin) and a script without Origin still act', async () => {
    expect((await add({ 'Content-Type': 'application/json', Origin: `http://${HOST}`, 'Sec-Fetch-Site': 'same-origin' })).status).toBe(200);
    expect((await add({ 'Content-Type': 'application/json; charset=utf-8', 'Sec-Fetch-Site': 'same-origin' })).status).toBe(200);
    expect(await jobs()).toBe(2);
    expect((await pause({ Origin: `http://${HOST}` })).status).toBe(200);
    expect(await queue.isPaused()).toBe(true);
    // curl or a script: no Origin, no Sec-Fetch-Site (Node's fetch sends Sec-Fetch-Mode only).
    const resume = await admin.request(`http://${HOST}/dashboard/api/queues/pas-requests/resume`, { method: 'PUT', headers: { Authorization: auth, Host: HOST, 'Sec-Fetch-Mode': 'cors' } });
    expect(resume.status).toBe(200);
    expect(await queue.isPaused()).toBe(false);
  });
});
