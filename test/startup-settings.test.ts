import { describe, expect, it } from 'vitest';
import { stopProcess } from './support/redis.js';
import { spawnTs } from './support/stack.js';

/**
 * Settings only found wrong when used (a PAS file that cannot be opened, an audit directory that
 * cannot be made) stop start-up as every other wrong setting does: exit 78 (EX_CONFIG) and one
 * line naming the setting, never a stack trace. No Redis listens at the address given: both
 * processes must stop before they connect.
 */
const keys = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

async function exitOf(entry: string, env: Record<string, string>, name: string): Promise<{ code: number | null; output: string }> {
  const child = spawnTs(entry, { QUEUE_ENCRYPTION_KEYS: keys, REDIS_URL: 'redis://127.0.0.1:9', LOG_LEVEL: 'info', ...env }, name);
  const code = await new Promise<number | null>((resolve) => child.child.once('exit', (c) => resolve(c)));
  await stopProcess(child.child);
  return { code, output: child.output.join('').trim() };
}

describe('a setting found wrong when first used', () => {
  it('a worker whose PAS_SQLITE_PATH is in a directory that does not exist exits 78 naming PAS_SQLITE_PATH', async () => {
    const r = await exitOf('apps/worker/src/main.ts', { PAS_SQLITE_PATH: '/nonexistent/dir/x.sqlite', WORKER_ADMIN_PORT: '0' }, 'worker-bad-pas-path');
    expect(r.code, r.output).toBe(78);
    expect(r.output).toMatch(/^worker: configuration error: PAS_SQLITE_PATH: cannot open \/nonexistent\/dir\/x\.sqlite [^\n]*$/);
  });

  it('a facade whose AUDIT_DIR runs through a file exits 78 naming AUDIT_DIR', async () => {
    const r = await exitOf('apps/facade/src/main.ts', { FACADE_TLS: 'off', AUDIT_DIR: '/etc/passwd/audit', FACADE_PORT: '0', ADMIN_PORT: '0' }, 'facade-bad-audit-dir');
    expect(r.code, r.output).toBe(78);
    expect(r.output).toMatch(/^facade: configuration error: AUDIT_DIR: cannot create or write the directory \/etc\/passwd\/audit \(ENOTDIR\)$/);
  });
});
