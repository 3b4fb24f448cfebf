import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { queryAudit } from '../apps/facade/src/audit/query.js';
import { ADMIN_CREDENTIALS, Stack } from './support/stack.js';

/**
 * The queue dashboard's login against a real facade (issue 14, item 3): failed logins are
 * throttled per client with back-off (5 free, then 1 s, 2 s, 4 s …), logged, counted and audited;
 * the admin listener's pages cannot be framed and carry a CSP. 127.0.0.2 is a second client.
 */

let stack: Stack;
let admin: string;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: inject('redisUrl'), env: { LOG_LEVEL: 'info' } });
  admin = stack.facades[0]!.adminUrl;
});
afterAll(async () => {
  await stack?.stop();
});

const basic = (password: string, username = ADMIN_CREDENTIALS.username) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

/** GET on the admin listener from `localAddress`, with `authorization`. */
function get(path: string, authorization?: string, localAddress = '127.0.0.1'): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${admin}${path}`, { localAddress, headers: authorization ? { Authorization: authorization } : {}, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('queue dashboard login', () => {
  it('refuses framing and sets a CSP on the admin listener’s pages, login challenge included', async () => {
    for (const answer of [await get('/dashboard'), await get('/dashboard/', basic(ADMIN_CREDENTIALS.password)), await get('/health/live')]) {
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect(answer.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
      expect(answer.headers['content-security-policy']).toMatch(/default-src 'self'/);
    }
  });

  it('throttles failed logins per client with back-off; logs, counts and audits them; a locked-out client is not even checked', async () => {
    const started = new Date();
    // Five free mistakes (a browser's first visit without credentials is none of them).
    expect((await get('/dashboard')).status).toBe(401);
    for (let i = 0; i < 5; i++) expect((await get('/dashboard/api/queues', basic(`wrong-password-${i}`))).status).toBe(401);
    // The sixth failure locks the client out.
    expect((await get('/dashboard/api/queues', basic('wrong-password-6'))).status).toBe(401);
    const locked = await get('/dashboard/api/queues', basic(ADMIN_CREDENTIALS.password));
    expect(locked.status).toBe(429); // even the right password, while locked out
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another client is not affected.
    expect((await get('/dashboard/api/queues', basic(ADMIN_CREDENTIALS.password), '127.0.0.2')).status).toBe(200);

    // Once the lock-out has passed, the right password gets in and clears the record.
    await sleep(Number(locked.headers['retry-after']) * 1000 + 100);
    expect((await get('/dashboard/api/queues', basic(ADMIN_CREDENTIALS.password))).status).toBe(200);
    expect((await get('/dashboard/api/queues', basic('wrong-again'))).status).toBe(401);

    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/booking_admin_login_failures_total\{reason="bad-credentials"\} 7/);
    expect(metrics).toMatch(/booking_admin_login_failures_total\{reason="locked-out"\} 1/);

    const log = stack.facades[0]!.output.join('');
    expect((log.match(/"clientAddress":"(::ffff:)?127\.0\.0\.1","failures":\d+.*queue dashboard login failed/g) ?? []).length).toBe(7);
    expect(log).toMatch(/"failures":6,"lockedOutSeconds":1,.*queue dashboard login failed/);
    expect(log).not.toContain('wrong-password');

    await sleep(100);
    const audited = [];
    for await (const r of queryAudit(stack.auditDir, { from: started })) if (r.event === 'admin-login-failed') audited.push(r);
    expect(audited).toHaveLength(7);
    expect(audited[5]).toMatchObject({ status: 401, outcome: 'LOCKED_OUT', interaction: 'dashboard', path: '/dashboard/api/queues', clientAddress: expect.stringMatching(/127\.0\.0\.1$/) });
    expect(JSON.stringify(audited)).not.toContain('wrong-password');
  });
});
