import { lookup } from 'node:dns/promises';
import { isIP, SocketAddress } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';

/** Where Redis is: the settings of @booking/config's `redisSettings` (structurally, to keep this package free of zod). */
export interface RedisTarget {
  REDIS_URL: string;
  REDIS_SENTINELS?: { host: string; port: number }[] | undefined;
  REDIS_SENTINEL_MASTER?: string | undefined;
  REDIS_SENTINEL_USERNAME?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
  REDIS_SENTINEL_TLS?: boolean | undefined;
  REDIS_TLS_CA?: string | undefined;
}

export type RedisRole = 'producer' | 'worker' | 'events';

/**
 * ioredis options for one role. Workers need `maxRetriesPerRequest: null` (blocking commands);
 * the facade's producer fails fast instead so a Redis outage never hangs an HTTP request.
 *
 * With Sentinels, ioredis asks them for the primary, and when the primary's connection drops it
 * asks again (until they name the promoted replica) and reconnects: no restart. A node answering
 * READONLY (a primary demoted to replica) is left the same way. A primary that stops answering
 * without closing its sockets (frozen, paused VM, network cut) drops nothing: the connections made
 * by `redisConnection` are therefore cut when the Sentinels announce a new primary, or name one when
 * asked every few seconds (FailoverWatch).
 */
export function redisOptions(target: RedisTarget | string, role: RedisRole): RedisOptions {
  const settings = typeof target === 'string' ? { REDIS_URL: target } : target;
  const url = new URL(settings.REDIS_URL);
  const tls = url.protocol === 'rediss:';
  const tlsOptions = settings.REDIS_TLS_CA ? { ca: settings.REDIS_TLS_CA } : {};
  const options: RedisOptions = {
    maxRetriesPerRequest: role === 'producer' ? 1 : null,
    enableOfflineQueue: role !== 'producer',
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
  };
  if (!settings.REDIS_SENTINELS) {
    return { ...options, ...(tls ? { tls: tlsOptions } : {}) };
  }
  const sentinelTls = settings.REDIS_SENTINEL_TLS ?? tls;
  return {
    ...options,
    sentinels: settings.REDIS_SENTINELS,
    name: settings.REDIS_SENTINEL_MASTER ?? 'mymaster',
    role: 'master',
    // The primary's credentials and database come from REDIS_URL; its host and port from the Sentinels.
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    ...(tls ? { tls: tlsOptions, enableTLSForSentinelMode: true } : {}),
    ...(sentinelTls ? { sentinelTLS: tlsOptions } : {}),
    ...(settings.REDIS_SENTINEL_USERNAME ? { sentinelUsername: settings.REDIS_SENTINEL_USERNAME } : {}),
    ...(settings.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: settings.REDIS_SENTINEL_PASSWORD } : {}),
    // Not ioredis' failoverDetector: a +switch-master arriving while a reconnect is under way makes
    // that attempt fail for good (status "end", never reconnecting), which the failover test caught.
    // FailoverWatch below follows +switch-master without touching a reconnect in progress.
    failoverDetector: false,
    sentinelRetryStrategy: (times) => Math.min(times * 200, 2000),
  };
}

/**
 * A Redis connection for BullMQ: one server (REDIS_URL) or the primary the Sentinels name. With
 * Sentinels it follows their failover announcements, and so do its duplicates (BullMQ's workers
 * and QueueEvents read on a duplicate of the connection they are given).
 */
export function redisConnection(target: RedisTarget | string, role: RedisRole): Redis {
  const settings = typeof target === 'string' ? { REDIS_URL: target } : target;
  if (!settings.REDIS_SENTINELS) return new Redis(settings.REDIS_URL, redisOptions(settings, role));
  const watch = failoverWatch({ ...settings, REDIS_SENTINELS: settings.REDIS_SENTINELS });
  const follow = (redis: Redis): Redis => {
    watch.follow(redis);
    const duplicate = redis.duplicate.bind(redis);
    redis.duplicate = (override) => follow(duplicate(override));
    return redis;
  };
  return follow(new Redis(redisOptions(settings, role)));
}

type SentinelTarget = RedisTarget & { REDIS_SENTINELS: { host: string; port: number }[] };

/**
 * Cuts this process's connections to a primary the Sentinels have replaced. Subscribed to every
 * Sentinel's `+switch-master` ("<name> <old-host> <old-port> <new-host> <new-port>"), it destroys
 * the socket of each followed connection not already on the new primary, ready or still waiting
 * for its ready check: ioredis then reconnects as after any lost connection, asking the Sentinels,
 * and resends what was pending (BullMQ's blocking reads included). Without it a connection to a
 * frozen or cut-off primary waits for ever, since such a primary never closes its sockets (and
 * its kernel still accepts new ones, whose ready check then never answers). A connection between
 * sockets is left alone: its reconnect asks the Sentinels anyway (ioredis' own failoverDetector
 * interrupts that reconnect, and ends the connection for good).
 *
 * An announcement is a single message: it is lost when every subscription is down (or refused) at
 * that moment, and a connection whose Sentinel lookup named the old primary just before the switch
 * may land there after it. So every CHECK_INTERVAL_MS the watch also asks each Sentinel for the
 * primary (`SENTINEL get-master-addr-by-name`, on connections of its own: a subscribed one cannot
 * send commands) and cuts the same way when more than half of all configured Sentinels name one
 * address (`agreedPrimary`): never on one Sentinel's word, since during a failover they disagree
 * for a moment. Checks and announcements are handled one after the other, in order.
 *
 * A connection is followed from its creation until it ends, and again once it connects again:
 * BullMQ's Worker ends and reconnects its blocking connection itself (bzpopmin watchdog, pause,
 * resume). Sentinels that announce host names (`announce-hostnames yes`) are resolved before the
 * comparison; a name that does not resolve cuts every connection (they reconnect, no harm). One
 * watch per process and Sentinel target, subscribed and checking while any connection it follows
 * is open (the timer never keeps a process alive).
 */
class FailoverWatch {
  private readonly followed = new Set<Redis>();
  private subscribers: Redis[] = [];
  /** Command connections to the Sentinels, for the periodic check. */
  private askers: Redis[] = [];
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  /** The last announcement acted on: each Sentinel publishes the same one. */
  private lastSwitch = '';
  private cutting = Promise.resolve();

  constructor(private readonly target: SentinelTarget) {}

  follow(redis: Redis): void {
    this.add(redis);
    // ioredis emits each status as an event; 'connecting' starts every (re)connection, an ended
    // client's connect() included.
    redis.on('connecting', () => this.add(redis));
    redis.on('end', () => {
      if (redis.status !== 'end' || !this.followed.delete(redis)) return;
      if (this.followed.size === 0) this.unsubscribe();
    });
  }

  private add(redis: Redis): void {
    if (this.followed.has(redis)) return;
    if (this.followed.size === 0) this.subscribe();
    this.followed.add(redis);
  }

  private subscribe(): void {
    this.subscribers = this.sentinels();
    for (const sentinel of this.subscribers) {
      sentinel.on('message', (_channel: string, message: string) => this.switched(message));
      sentinel.subscribe('+switch-master').catch(() => {});
    }
    // A question to a frozen Sentinel fails after 2 s instead of holding up the checks and
    // announcements; one to a Sentinel that is down fails at once instead of queueing for its return.
    this.askers = this.sentinels({ commandTimeout: 2000, enableOfflineQueue: false });
    this.timer = setInterval(() => this.check(), CHECK_INTERVAL_MS).unref();
  }

  /** One connection to each Sentinel, with the TLS and login the connections themselves use (redisOptions). */
  private sentinels(extra: RedisOptions = {}): Redis[] {
    const { sentinelTLS, sentinelUsername, sentinelPassword } = redisOptions(this.target, 'events');
    return this.target.REDIS_SENTINELS.map(({ host, port }) => {
      const sentinel = new Redis({
        host,
        port,
        ...(sentinelTLS ? { tls: sentinelTLS } : {}),
        ...(sentinelUsername ? { username: sentinelUsername } : {}),
        ...(sentinelPassword ? { password: sentinelPassword } : {}),
        connectTimeout: 2000,
        maxRetriesPerRequest: null,
        retryStrategy: (times) => Math.min(times * 200, 2000),
        ...extra,
      });
      // A Sentinel down is the others' job; ioredis connects (and subscribes) again when it is back.
      sentinel.on('error', () => {});
      return sentinel;
    });
  }

  private unsubscribe(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const sentinel of [...this.subscribers, ...this.askers]) sentinel.disconnect();
    this.subscribers = [];
    this.askers = [];
  }

  /** Asks every Sentinel for the primary and cuts towards the one they agree on (in order with the announcements). */
  private check(): void {
    if (this.checking) return;
    this.checking = true;
    const askers = this.askers;
    this.cutting = this.cutting
      .then(async () => {
        const answers = await Promise.all(
          askers.map((sentinel) =>
            sentinel.call('SENTINEL', 'get-master-addr-by-name', this.target.REDIS_SENTINEL_MASTER ?? 'mymaster').then(
              (answer) => answer,
              () => undefined,
            ),
          ),
        );
        const primary = agreedPrimary(answers, this.target.REDIS_SENTINELS.length);
        // A routine check, unlike an announcement, must never cut on doubt: not when the name does
        // not resolve (a DNS hiccup would drop every healthy connection every few seconds), not a
        // socket still connecting (it has no address yet; the next check sees where it landed).
        if (primary) await this.cut(primary.host, primary.port, 'check');
      })
      .finally(() => {
        this.checking = false;
      });
  }

  private switched(message: string): void {
    const [name, , , host, port] = message.split(' ');
    if (name !== (this.target.REDIS_SENTINEL_MASTER ?? 'mymaster') || !host || !port || message === this.lastSwitch) return;
    this.lastSwitch = message;
    // In order: a quick failover and failback must end on the last primary named.
    this.cutting = this.cutting.then(() => this.cut(host, Number(port)));
  }

  /**
   * Cuts every followed connection not on host:port (a name is resolved). After an announcement a
   * name that cannot be resolved cuts all, and so does a socket without an address yet; a periodic
   * check cuts neither.
   */
  private async cut(host: string, port: number, why: 'announcement' | 'check' = 'announcement'): Promise<void> {
    const addresses = await lookup(host, { all: true }).then(
      (found) => new Set(found.map((a) => unmapped(a.address))),
      () => undefined,
    );
    if (!addresses && why === 'check') return;
    for (const redis of this.followed) {
      const socket = redis.stream;
      if (!socket || socket.destroyed) continue;
      if (why === 'check' && socket.remoteAddress === undefined) continue;
      if (socket.remotePort === port && addresses?.has(unmapped(socket.remoteAddress ?? ''))) continue;
      socket.destroy();
    }
  }
}

/**
 * An address in one written form: an IP in its standard form (a Sentinel may name 2001:DB8::1 or
 * ::ffff:7f00:1 as configured, the socket says 2001:db8::1 or ::ffff:127.0.0.1), and an IPv4
 * address as IPv6 writes it compared as the IPv4 address it is.
 */
function unmapped(address: string): string {
  const family = isIP(address);
  const standard = family === 0 ? address : new SocketAddress({ address, family: family === 6 ? 'ipv6' : 'ipv4' }).address;
  return standard.replace(/^::ffff:/i, '');
}

/** How often FailoverWatch asks the Sentinels for the primary (they take seconds to elect one anyway). */
const CHECK_INTERVAL_MS = 5000;

/**
 * The primary that more than half of all `configured` Sentinels name in `answers` (each a reply to
 * `SENTINEL get-master-addr-by-name`: [host, port], or anything else for no answer), else
 * undefined. Such an address also has a majority of the Sentinels that answered.
 */
export function agreedPrimary(answers: readonly unknown[], configured: number): { host: string; port: number } | undefined {
  const votes = new Map<string, number>();
  for (const answer of answers) {
    if (!Array.isArray(answer) || typeof answer[0] !== 'string' || !/^\d+$/.test(String(answer[1]))) continue;
    const address = `${answer[0]} ${String(answer[1])}`;
    votes.set(address, (votes.get(address) ?? 0) + 1);
  }
  for (const [address, count] of votes) {
    if (count * 2 <= configured) continue;
    const [host, port] = address.split(' ') as [string, string];
    return { host, port: Number(port) };
  }
  return undefined;
}

const watches = new Map<string, FailoverWatch>();

function failoverWatch(target: SentinelTarget): FailoverWatch {
  const key = JSON.stringify([target.REDIS_SENTINELS, target.REDIS_SENTINEL_MASTER, target.REDIS_SENTINEL_USERNAME, target.REDIS_SENTINEL_PASSWORD, target.REDIS_SENTINEL_TLS, target.REDIS_TLS_CA, new URL(target.REDIS_URL).protocol]);
  const watch = watches.get(key) ?? new FailoverWatch(target);
  watches.set(key, watch);
  return watch;
}

/** What a log line or a report may say about the target: never a password. */
export function describeRedisTarget(target: RedisTarget): string {
  const url = new URL(target.REDIS_URL);
  if (url.password) url.password = '***';
  if (!target.REDIS_SENTINELS) return url.toString();
  const auth = url.username || url.password ? `${url.username}${url.password ? ':***' : ''}@` : '';
  return `${url.protocol}//${auth}<${target.REDIS_SENTINEL_MASTER ?? 'mymaster'} via Sentinels ${target.REDIS_SENTINELS.map((s) => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`).join(',')}>${url.pathname.length > 1 ? url.pathname : ''}`;
}
