import { z } from 'zod';

/**
 * How facade and workers reach Redis: one server (REDIS_URL), or a primary found through Redis
 * Sentinel (REDIS_SENTINELS), which promotes a replica when the primary dies. Shared by both
 * processes so the two always read the same settings the same way.
 */

export interface SentinelAddress {
  host: string;
  port: number;
}

/** `host:port[,host:port…]`; an IPv6 host in brackets ([::1]:26379). */
function parseSentinels(value: string, ctx: z.RefinementCtx<string>): SentinelAddress[] {
  const addresses: SentinelAddress[] = [];
  for (const item of value.split(',').map((s) => s.trim())) {
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(item)} is not host:port` });
      return z.NEVER;
    }
    addresses.push({ host: (match[1] as string).replace(/^\[|\]$/g, ''), port });
  }
  return addresses;
}

export const redisSettings = {
  REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .describe('a redis:// URL, or rediss:// for TLS, with the ACL user, password and database (redis://user:password@host:6379/0); with REDIS_SENTINELS its host and port are not used')
    .default('redis://127.0.0.1:6379'),
  REDIS_USERNAME: z.string().min(1).describe('the Redis ACL user (overrides one in REDIS_URL)').optional(),
  REDIS_PASSWORD: z.string().min(1).describe('the Redis password of REDIS_USERNAME (usually REDIS_PASSWORD_FILE=/path; overrides one in REDIS_URL)').optional(),
  REDIS_SENTINELS: z
    .string()
    .transform(parseSentinels)
    .describe('host:port[,host:port…] of the Redis Sentinels (three or more); set = Sentinel mode: the primary is the one they name, and a failover is followed without a restart')
    .optional(),
  REDIS_SENTINEL_MASTER: z.string().min(1).describe('the master name the Sentinels monitor (sentinel monitor <name> …)').default('mymaster'),
  REDIS_SENTINEL_USERNAME: z.string().min(1).describe('the ACL user for the Sentinels themselves (Redis 6.2+); unset = none or default').optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).describe('the password of the Sentinels themselves (their requirepass or ACL user); unset = none').optional(),
  REDIS_SENTINEL_TLS: z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .transform((v) => ['true', '1', 'yes'].includes(v))
    .describe('true to speak TLS to the Sentinels; unset = TLS exactly when REDIS_URL is rediss://')
    .optional(),
  REDIS_TLS_CA: z
    .string()
    .regex(/-----BEGIN CERTIFICATE-----/, 'must be PEM text (-----BEGIN CERTIFICATE-----); give a file path as REDIS_TLS_CA_FILE')
    .describe('the PEM CA certificate(s) that signed the Redis and Sentinel TLS certificates (give a path as REDIS_TLS_CA_FILE); unset = the system CAs')
    .optional(),
};

const redisSchema = z.object(redisSettings);
export type RedisSettings = z.infer<typeof redisSchema>;

/**
 * The settings as the connection uses them: REDIS_USERNAME and REDIS_PASSWORD (which may come from
 * their own secret files) put into REDIS_URL, which is where the connection reads the login from.
 */
export function withRedisLogin<T extends RedisSettings>(settings: T): T {
  return { ...settings, REDIS_URL: urlWithCredentials(settings.REDIS_URL, settings.REDIS_USERNAME, settings.REDIS_PASSWORD) };
}

/**
 * A URL with a user name and password put in (both percent-encoded), so that a password can come
 * from its own secret file (REDIS_PASSWORD_FILE) rather than sit inside a URL setting.
 */
export function urlWithCredentials(url: string, username: string | undefined, password: string | undefined): string {
  if (!username && !password) return url;
  const u = new URL(url);
  if (username) u.username = encodeURIComponent(username);
  if (password) u.password = encodeURIComponent(password);
  return u.toString();
}
