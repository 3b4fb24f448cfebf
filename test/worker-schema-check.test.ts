import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlitePas } from '@booking/pas/sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { stopProcess } from './support/redis.js';
import { spawnTs } from './support/stack.js';

/**
 * A worker started on a PAS that lacks what its SQL uses (an upgrade installed before its schema
 * script or grants) would answer every job 500; it stops at once instead, naming what is missing.
 */
describe('a worker on a PAS that lacks a column it uses', () => {
  const dir = mkdtempSync(join(tmpdir(), 'worker-schema-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 78 before taking any job, with one line naming the table, the access and the column', async () => {
    const path = join(dir, 'pas.db');
    const pas = new SqlitePas({ path });
    pas.db.exec('ALTER TABLE PATIENT DROP COLUMN PHONE_NO');
    await pas.close();

    // No Redis is listening there: the worker must stop before it ever connects.
    const worker = spawnTs('apps/worker/src/main.ts', { QUEUE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`, REDIS_URL: 'redis://127.0.0.1:9', PAS_SQLITE_PATH: path, WORKER_ADMIN_PORT: '0', LOG_LEVEL: 'info' }, 'worker-on-old-schema');
    const code = await new Promise<number | null>((resolve) => worker.child.once('exit', (c) => resolve(c)));
    await stopProcess(worker.child);
    expect(code).toBe(78);
    const lines = worker.output.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { level: number; msg: string; lacking?: string[] });
    const fatal = lines.find((line) => line.level === 60);
    expect(fatal?.msg).toMatch(/PAS lacks .* run docker\/pas\/02-booking-schema\.sql .* docs\/install\.md/);
    expect(fatal?.lacking).toEqual([expect.stringMatching(/^PATIENT \(read\): .*PHONE_NO/)]);
    expect(lines.some((line) => line.msg === 'worker ready')).toBe(false);
  });
});
