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

describe('JOB_RETENTION_SECONDS against JOB_TIMEOUT_MS', () => {
  const facade = (extra: Record<string, string>) => () => loadFacadeConfig({ QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', ...extra });

  it('refuses a retention that a request could outwait (its reply would be removed while it waits)', () => {
    expect(facade({ JOB_RETENTION_SECONDS: '0' })).toThrow(/^JOB_RETENTION_SECONDS: .*JOB_TIMEOUT_MS .*at least 15$/);
    expect(facade({ JOB_RETENTION_SECONDS: '124', JOB_TIMEOUT_MS: '120000' })).toThrow(ConfigError);
    expect(facade({ JOB_RETENTION_SECONDS: '125', JOB_TIMEOUT_MS: '120000' })).not.toThrow();
    expect(facade({ JOB_RETENTION_SECONDS: '8', JOB_TIMEOUT_MS: '3000' })).not.toThrow();
    expect(facade({})().JOB_RETENTION_SECONDS).toBe(3600);
  });
});

describe('settings that are HTTP addresses', () => {
  const facade = (extra: Record<string, string>) => () => loadFacadeConfig({ QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', ...extra });
  const worker = (extra: Record<string, string>) => () => loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, PAS_SQLITE_PATH: join(dir, 'pas.sqlite'), ...extra });

  it('refuse a URL without http(s):// (a bare `host:port/path` parses with the host as its scheme), naming the setting and the form expected', () => {
    expect(facade({ FACADE_BASE_URL: 'booking.example-trust.nhs.uk:443/STU3/1' })).toThrow(ConfigError);
    expect(facade({ FACADE_BASE_URL: 'booking.example-trust.nhs.uk:443/STU3/1' })).toThrow(/^FACADE_BASE_URL: must be an http:\/\/ or https:\/\/ URL with a host name \(expected the absolute service root, e\.g\. https:\/\//);
    expect(facade({ FACADE_BASE_URL: 'ftp://booking.example-trust.nhs.uk/STU3/1' })).toThrow(/^FACADE_BASE_URL: must be an http/);
    expect(facade({ OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4318' })).toThrow(/^OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:\/\/ or https:\/\/ URL .*such as http:\/\/otel-collector:4318/);
    expect(worker({ OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4318' })).toThrow(/^OTEL_EXPORTER_OTLP_ENDPOINT: must be an http/);
    expect(facade({ JWT_JWKS_URL: 'idp.example/jwks' })).toThrow(/^JWT_JWKS_URL: must be an http/);
  });

  it('refuse a base URL with a query or fragment (routes and the JWT audience would match nothing)', () => {
    expect(facade({ FACADE_BASE_URL: 'https://booking.example-trust.nhs.uk/STU3/1?x=1' })).toThrow(/^FACADE_BASE_URL: must have no query \(\?…\) or fragment \(#…\)/);
    expect(facade({ FACADE_BASE_URL: 'https://booking.example-trust.nhs.uk/STU3/1#top' })).toThrow(/^FACADE_BASE_URL: must have no query/);
  });

  it('accept http(s) URLs, and identifier systems of any scheme', () => {
    const config = facade({ FACADE_BASE_URL: 'https://booking.example-trust.nhs.uk:8443/STU3/1/', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://[::1]:4318' })();
    expect([config.baseUrl, config.basePath]).toEqual(['https://booking.example-trust.nhs.uk:8443/STU3/1', '/STU3/1']);
    expect(worker({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.trust.nhs.uk', LOCAL_PATIENT_ID_SYSTEM: 'urn:oid:2.16.840.1.113883.2.1.3.2.4.18.24' })().LOCAL_PATIENT_ID_SYSTEM).toBe('urn:oid:2.16.840.1.113883.2.1.3.2.4.18.24');
  });
});

describe('a Kubernetes service link in a port setting', () => {
  it('is refused naming it for what it is and how to stop it: FACADE_PORT from a Service named facade, WORKER_ADMIN_PORT from one named worker-admin', () => {
    expect(() => loadFacadeConfig({ QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', FACADE_PORT: 'tcp://10.96.0.5:8443' })).toThrow(/^FACADE_PORT: .*got "tcp:\/\/10\.96\.0\.5:8443": a Kubernetes service link \(a Service named facade\), not a port: set enableServiceLinks: false on the pod/);
    expect(() => loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, WORKER_ADMIN_PORT: 'tcp://[fd00::5]:9091' })).toThrow(/a Kubernetes service link \(a Service named worker-admin\)/);
    // Any other bad port says nothing about Kubernetes.
    expect(() => loadFacadeConfig({ QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', FACADE_PORT: 'eighty' })).toThrow(/^FACADE_PORT: (?!.*Kubernetes)/);
  });
});
