import { ConfigError, loadConfig, redisSettings, z } from '@booking/config';
import { describe, expect, it } from 'vitest';
import { agreedPrimary, describeRedisTarget, redisOptions } from '../src/connection.js';

/** The Redis settings (one server or Sentinel) and the ioredis options they become, in-process. */

const load = (env: Record<string, string>) => loadConfig(z.object(redisSettings), env);
const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('Redis settings', () => {
  it('default to one local Redis, no Sentinels', () => {
    expect(load({})).toMatchObject({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINEL_MASTER: 'mymaster' });
    expect(load({}).REDIS_SENTINELS).toBeUndefined();
  });

  it('read a Sentinel list, IPv6 in brackets', () => {
    expect(load({ REDIS_SENTINELS: 'sentinel-1:26379, 10.0.0.2:26380,[::1]:26381' }).REDIS_SENTINELS).toEqual([
      { host: 'sentinel-1', port: 26379 },
      { host: '10.0.0.2', port: 26380 },
      { host: '::1', port: 26381 },
    ]);
  });

  it.each([
    ['REDIS_SENTINELS', 'sentinel-1', /REDIS_SENTINELS: "sentinel-1" is not host:port/],
    ['REDIS_SENTINELS', 'a:26379,b:99999', /REDIS_SENTINELS: "b:99999" is not host:port/],
    ['REDIS_SENTINELS', 'a:26379,', /REDIS_SENTINELS: "" is not host:port/],
    ['REDIS_URL', 'http://127.0.0.1:6379', /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/],
    ['REDIS_SENTINEL_TLS', 'maybe', /REDIS_SENTINEL_TLS:/],
    ['REDIS_TLS_CA', '/etc/ssl/redis-ca.pem', /REDIS_TLS_CA: must be PEM .*REDIS_TLS_CA_FILE/],
  ])('refuse %s=%s with a line naming the setting', (name, value, message) => {
    expect(() => load({ [name]: value })).toThrow(ConfigError);
    expect(() => load({ [name]: value })).toThrow(message);
  });
});

describe('ioredis options', () => {
  it('one server: the URL alone, TLS with rediss:// and the CA given', () => {
    expect(redisOptions('redis://127.0.0.1:6379', 'worker')).not.toHaveProperty('tls');
    expect(redisOptions({ REDIS_URL: 'rediss://redis.trust.nhs.uk:6380', REDIS_TLS_CA: CA }, 'worker')).toMatchObject({ tls: { ca: CA } });
    expect(redisOptions('redis://127.0.0.1:6379', 'worker')).not.toHaveProperty('sentinels');
  });

  it('Sentinel: the primary by name, with the credentials and database of REDIS_URL, following failovers', () => {
    const options = redisOptions(
      { ...load({ REDIS_URL: 'redis://booking:s%40cret@ignored:1/2', REDIS_SENTINELS: 'a:26379,b:26379,c:26379', REDIS_SENTINEL_MASTER: 'booking', REDIS_SENTINEL_PASSWORD: 'sentinel-secret' }) },
      'producer',
    );
    expect(options).toMatchObject({
      sentinels: [{ host: 'a', port: 26379 }, { host: 'b', port: 26379 }, { host: 'c', port: 26379 }],
      name: 'booking',
      role: 'master',
      username: 'booking',
      password: 's@cret',
      db: 2,
      sentinelPassword: 'sentinel-secret',
      failoverDetector: false,
      // The facade's producer still fails fast while no primary is known.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
    expect(options).not.toHaveProperty('tls');
    expect(options).not.toHaveProperty('sentinelTLS');
  });

  it('Sentinel over TLS: rediss:// means TLS to the primary and, unless REDIS_SENTINEL_TLS says otherwise, to the Sentinels', () => {
    const base = { REDIS_URL: 'rediss://booking:pw@x/0', REDIS_SENTINELS: 'a:26379', REDIS_TLS_CA: CA };
    expect(redisOptions(load(base), 'worker')).toMatchObject({ tls: { ca: CA }, enableTLSForSentinelMode: true, sentinelTLS: { ca: CA } });
    expect(redisOptions(load({ ...base, REDIS_SENTINEL_TLS: 'false' }), 'worker')).not.toHaveProperty('sentinelTLS');
    expect(redisOptions(load({ ...base, REDIS_URL: 'redis://x', REDIS_SENTINEL_TLS: 'true' }), 'worker')).toMatchObject({ sentinelTLS: { ca: CA } });
  });

  it('leave a demoted primary (READONLY) for the promoted one, resending the refused command', () => {
    const reconnect = redisOptions('redis://127.0.0.1:6379', 'worker').reconnectOnError as (e: Error) => unknown;
    expect(reconnect(new Error("READONLY You can't write against a read only replica."))).toBe(2);
    expect(reconnect(new Error('ERR something else'))).toBe(false);
  });

  it('never show a password when describing the target', () => {
    expect(describeRedisTarget({ REDIS_URL: 'redis://booking:secret@redis:6379/0' })).toBe('redis://booking:***@redis:6379/0');
    const sentinel = describeRedisTarget(load({ REDIS_URL: 'rediss://booking:secret@x/1', REDIS_SENTINELS: 'a:26379,[::1]:26380', REDIS_SENTINEL_PASSWORD: 'other-secret' }));
    expect(sentinel).toBe('rediss://booking:***@<mymaster via Sentinels a:26379,[::1]:26380>/1');
    expect(sentinel).not.toMatch(/secret/);
  });
});

describe('the primary the Sentinels agree on (FailoverWatch acts on it alone)', () => {
  const a = ['10.0.0.1', '6379'];
  const b = ['10.0.0.2', '6379'];
  it.each([
    ['all three name it', [a, a, a], 3, a],
    ['two of three, the third behind', [a, a, b], 3, a],
    ['two of three, the third silent', [a, undefined, a], 3, a],
    ['two of three answered and agree, out of three', [a, a], 3, a],
    ['one of three answered', [a, undefined, undefined], 3, undefined],
    ['one of one answered of three (majority of answers, not of Sentinels)', [a], 3, undefined],
    ['two of four (no majority of the Sentinels)', [a, a, b, b], 4, undefined],
    ['three of four', [a, b, b, b], 4, b],
    ['the only Sentinel configured', [b], 1, b],
    ['one answer each', [a, b, ['10.0.0.3', '6379']], 3, undefined],
    ['no answer at all', [undefined, undefined, undefined], 3, undefined],
    ['errors and nonsense are no answers', [new Error('x'), 'OK', null, [a[0]]], 3, undefined],
  ])('%s', (_case, answers, configured, expected) => {
    expect(agreedPrimary(answers, configured)).toEqual(expected && { host: expected[0], port: Number(expected[1]) });
  });

  it('tells ports apart', () => {
    expect(agreedPrimary([a, ['10.0.0.1', '6380'], a], 3)).toEqual({ host: '10.0.0.1', port: 6379 });
    expect(agreedPrimary([a, ['10.0.0.1', '6380'], undefined], 3)).toBeUndefined();
  });
});
