import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, redactSecrets, shownValue } from '@booking/config';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../apps/worker/src/config.js';
import { loadFacadeConfig } from '../apps/facade/src/config.js';
import { configErrorOf } from './support/config-errors.js';

/** Start-up errors name the setting and what is wrong, never a secret's value (issue 14, item 2). */

const keys = `k1:${Buffer.alloc(32, 7).toString('base64')}`;
const dir = mkdtempSync(join(tmpdir(), 'config-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('configuration errors never echo a secret', () => {
  it('facade: a too-short ADMIN_PASSWORD is named, its value is not shown', () => {
    const message = configErrorOf(() => loadFacadeConfig({ QUEUE_ENCRYPTION_KEYS: keys, ADMIN_PASSWORD: 'Real-Pass11' }));
    expect(message).toMatch(/^ADMIN_PASSWORD: must be at least 12 characters/);
    expect(message).toContain('(hidden)');
    expect(message).not.toContain('Real-Pass11');
  });

  it('worker: a too-short METRICS_TOKEN, also when it comes from a secret file', () => {
    const file = join(dir, 'token');
    writeFileSync(file, 'tok-Secret-9');
    for (const env of [{ METRICS_TOKEN: 'tok-Secret-9' }, { METRICS_TOKEN_FILE: file }]) {
      const message = configErrorOf(() => loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, ...env }));
      expect(message).toMatch(/^METRICS_TOKEN: must be at least 16 characters/);
      expect(message).not.toContain('tok-Secret-9');
    }
  });

  it('keys and connection strings: a malformed QUEUE_ENCRYPTION_KEYS and a password in a bad REDIS_URL', () => {
    const shortKey = configErrorOf(() => loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: 'k1:c2hvcnQtc2VjcmV0' }));
    expect(shortKey).toMatch(/^QUEUE_ENCRYPTION_KEYS: key "k1" must be 32 bytes/);
    expect(shortKey).not.toContain('c2hvcnQtc2VjcmV0');
    const redis = configErrorOf(() => loadFacadeConfig({ QUEUE_ENCRYPTION_KEYS: keys, REDIS_URL: 'redis://facade:Redis-Secret-1@bad host:6379' }));
    expect(redis).toMatch(/^REDIS_URL: /);
    expect(redis).not.toContain('Redis-Secret-1');
    expect(redis).toContain('facade:***@');
  });

  it('a temporary hospital number wider than PATIENT.HOSP_NO (CHAR(10)) is refused at start-up', () => {
    expect(configErrorOf(() => loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, PAS_TEMP_HOSPITAL_NUMBER_WIDTH: '12' }))).toMatch(/^PAS_TEMP_HOSPITAL_NUMBER_WIDTH: /);
    expect(loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, PAS_TEMP_HOSPITAL_NUMBER_WIDTH: '10' }).PAS_TEMP_HOSPITAL_NUMBER_WIDTH).toBe(10);
  });

  it('worker: a PAS_MSSQL_URL the adapter could not parse is a ConfigError naming it, the password not shown', () => {
    const bad = [
      'mssql://w:Sekr%t9@pas-host/PAS', // a literal % in the password (URL form: percent-encoded)
      'Server=pas-host;Database=PAS;User Id=w;Password={Sekr;t9', // an unbalanced brace (ADO form)
      'Server=pas-host;Database=PAS;User Id=w;Password={Sekr}t9}', // a lone } inside braces
    ];
    for (const url of bad) {
      let error: unknown;
      try {
        loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, PAS_ADAPTER: 'mssql', PAS_MSSQL_URL: url });
      } catch (e) {
        error = e;
      }
      expect(error, url).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message, url).toMatch(/^PAS_MSSQL_URL: /);
      expect(message, url).not.toContain('Sekr');
      expect(message, url).not.toContain('\n');
    }
    expect(configErrorOf(() => loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, PAS_ADAPTER: 'mssql', PAS_MSSQL_URL: 'mssql://w:Sekr%t9@pas-host/PAS' }))).toContain('%25');
    // Well-formed strings still load, both forms.
    for (const url of ['mssql://w:Sekr%25t9@pas-host/PAS', 'Server=pas-host;Database=PAS;User Id=w;Password={Sekr;t}}9}']) {
      expect(loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, PAS_ADAPTER: 'mssql', PAS_MSSQL_URL: url }).PAS_MSSQL_URL).toBe(url);
    }
  });

  it('a CONFIG_FILE that is not JSON is reported without quoting its text', () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, '{"ADMIN_PASSWORD": Real-Pass-Word-11}');
    const message = configErrorOf(() => loadFacadeConfig({ CONFIG_FILE: file, QUEUE_ENCRYPTION_KEYS: keys }));
    expect(message).toMatch(/^CONFIG_FILE: cannot read .* as JSON/);
    expect(message).not.toContain('Real-Pass-Word-11');
  });

  it('the shared rule: secrets hidden, URL and ADO passwords masked, any secret value removed from a message', () => {
    expect(shownValue('FACADE_TLS_KEY_PASSPHRASE', 'pp')).toBe('(hidden)');
    expect(shownValue('QUEUE_ENCRYPTION_KEYS', keys)).toBe('(hidden)');
    expect(shownValue('PAS_MSSQL_URL', 'mssql://sa:x@h/db')).toBe('(hidden)');
    expect(shownValue('REDIS_URL', 'redis://:p@ss@host:6379')).toBe('"redis://:***@host:6379"');
    expect(shownValue('FACADE_HOST', '0.0.0.0')).toBe('"0.0.0.0"');
    expect(redactSecrets('Server=h;Password=abc;x and the token sekret-token-123', { METRICS_TOKEN: 'sekret-token-123' })).toBe('Server=h;Password=***;x and the token (hidden)');
  });
});
