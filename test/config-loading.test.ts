import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, rawSettings } from '@booking/config';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFacadeConfig } from '../apps/facade/src/config.js';
import { loadWorkerConfig } from '../apps/worker/src/config.js';

/** Where a setting's value comes from (environment, NAME_FILE, CONFIG_FILE) and the values derived from settings. */

const keys = `k1:${Buffer.alloc(32, 7).toString('base64')}`;
const dir = mkdtempSync(join(tmpdir(), 'config-loading-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('the environment wins over CONFIG_FILE', () => {
  const zoneFile = file('zone', 'America/New_York\n');
  const envZoneFile = file('env-zone', 'Asia/Tokyo\n');

  it('NAME in the environment beats NAME_FILE in CONFIG_FILE', () => {
    const config = file('config-file.json', JSON.stringify({ PAS_TIMEZONE_FILE: zoneFile }));
    expect(rawSettings(['PAS_TIMEZONE'], { CONFIG_FILE: config, PAS_TIMEZONE: 'Europe/Dublin' }).PAS_TIMEZONE).toBe('Europe/Dublin');
    expect(loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, CONFIG_FILE: config, PAS_TIMEZONE: 'Europe/Dublin' }).PAS_TIMEZONE).toBe('Europe/Dublin');
  });

  it('NAME_FILE in the environment beats NAME and NAME_FILE in CONFIG_FILE', () => {
    const both = file('config-both.json', JSON.stringify({ PAS_TIMEZONE: 'Europe/Paris', PAS_TIMEZONE_FILE: zoneFile }));
    expect(rawSettings(['PAS_TIMEZONE'], { CONFIG_FILE: both, PAS_TIMEZONE_FILE: envZoneFile }).PAS_TIMEZONE).toBe('Asia/Tokyo');
  });

  it('NAME in the environment beats NAME in CONFIG_FILE; CONFIG_FILE fills what the environment does not give', () => {
    const plain = file('config-plain.json', JSON.stringify({ PAS_TIMEZONE: 'Europe/Paris', WORKER_CONCURRENCY: 3 }));
    expect(rawSettings(['PAS_TIMEZONE', 'WORKER_CONCURRENCY'], { CONFIG_FILE: plain, PAS_TIMEZONE: 'Europe/Dublin' })).toEqual({ PAS_TIMEZONE: 'Europe/Dublin', WORKER_CONCURRENCY: '3' });
    const secret = file('config-secret.json', JSON.stringify({ PAS_TIMEZONE_FILE: zoneFile }));
    expect(rawSettings(['PAS_TIMEZONE'], { CONFIG_FILE: secret }).PAS_TIMEZONE).toBe('America/New_York');
  });

  it('within one source NAME_FILE still wins over NAME, and an empty NAME in the environment unsets the file\u2019s value', () => {
    expect(rawSettings(['PAS_TIMEZONE'], { PAS_TIMEZONE: 'Europe/Dublin', PAS_TIMEZONE_FILE: envZoneFile }).PAS_TIMEZONE).toBe('Asia/Tokyo');
    const both = file('config-both2.json', JSON.stringify({ PAS_TIMEZONE: 'Europe/Paris', PAS_TIMEZONE_FILE: zoneFile }));
    expect(rawSettings(['PAS_TIMEZONE'], { CONFIG_FILE: both }).PAS_TIMEZONE).toBe('America/New_York');
    const plain = file('config-plain2.json', JSON.stringify({ PAS_TIMEZONE: 'Europe/Paris' }));
    expect(rawSettings(['PAS_TIMEZONE'], { CONFIG_FILE: plain, PAS_TIMEZONE: '' }).PAS_TIMEZONE).toBeUndefined();
  });
});

describe('the facade\u2019s default base URL', () => {
  it('brackets an IPv6 listen address', () => {
    expect(loadFacadeConfig({ QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', FACADE_HOST: '::', FACADE_PORT: '8080' }).baseUrl).toBe('http://[::]:8080/STU3/1');
    expect(loadFacadeConfig({ QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', FACADE_HOST: '::1', FACADE_PORT: '8080' }).basePath).toBe('/STU3/1');
    expect(loadFacadeConfig({ QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', FACADE_HOST: '127.0.0.1', FACADE_PORT: '8080' }).baseUrl).toBe('http://127.0.0.1:8080/STU3/1');
  });

  it('a listen address that makes no URL is a ConfigError naming FACADE_HOST', () => {
    let error: unknown;
    try {
      loadFacadeConfig({ QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', FACADE_HOST: 'not a host' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^FACADE_HOST: /);
  });
});
