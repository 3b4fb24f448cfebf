import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { stopProcess } from './redis.js';

/**
 * Redis made highly available on loopback with Debian's redis-server: a primary, a replica and
 * three Sentinels (`redis-server <conf> --sentinel`, the same binary Debian's redis-sentinel
 * package runs), with short detection times so a failover takes seconds.
 */
export interface SentinelCluster {
  masterName: string;
  primary: { port: number; process: ChildProcess };
  replica: { port: number; process: ChildProcess };
  sentinels: { port: number; process: ChildProcess }[];
  /** REDIS_SENTINELS for facade and workers. */
  sentinelList: string;
  /** The primary the Sentinels name now (host:port). */
  currentPrimary(): Promise<string | undefined>;
  stop(): Promise<void>;
}

const MASTER_NAME = 'booking';

export interface SentinelClusterOptions {
  /** TLS only, on every server and Sentinel (and between them): PEM files of a server certificate for 127.0.0.1 and its CA. */
  tls?: { cert: string; key: string; ca: string };
  /** An ACL user for the Redis servers (the default user is switched off). */
  user?: { name: string; password: string };
  /** The Sentinels' own password (requirepass). */
  sentinelPassword?: string;
  /** ACL rules (`user <name> …` lines) added to every Sentinel's configuration, its default user kept. */
  sentinelAcl?: string[];
  /** `down-after-milliseconds`: how long the primary may not answer before it counts as down (default 1000). */
  downAfterMs?: number;
}

export async function startSentinelCluster(options: SentinelClusterOptions = {}): Promise<SentinelCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'booking-sentinel-'));
  const { tls, user } = options;
  // The listening port: plain, or TLS only (port 0 closes the plain one).
  const listen = (port: number) => (tls ? ['port 0', `tls-port ${port}`, `tls-cert-file ${tls.cert}`, `tls-key-file ${tls.key}`, `tls-ca-cert-file ${tls.ca}`, 'tls-auth-clients no', 'tls-replication yes'] : [`port ${port}`]);
  const server = (name: string, port: number, extra: string[]) => {
    const data = join(dir, name);
    mkdirSync(data, { recursive: true });
    const conf = join(dir, `${name}.conf`);
    const acl = user ? ['user default off', `user ${user.name} on >${user.password} ~* &* +@all`, `masteruser ${user.name}`, `masterauth ${user.password}`] : [];
    writeFileSync(conf, [...listen(port), 'bind 127.0.0.1', 'save ""', 'appendonly no', `dir ${data}`, ...acl, ...extra, ''].join('\n'));
    return spawn('redis-server', [conf], { stdio: 'ignore' });
  };
  const ask = async <T>(port: number, sentinel: boolean, ...args: string[]): Promise<T | undefined> => {
    const auth = sentinel ? (options.sentinelPassword ? { password: options.sentinelPassword } : {}) : user ? { username: user.name, password: user.password } : {};
    const client = new Redis({ host: '127.0.0.1', port, ...auth, ...(tls ? { tls: { ca: readFileSync(tls.ca) } } : {}), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.call(args[0] as string, ...args.slice(1))) as T;
    } catch {
      return undefined;
    } finally {
      client.disconnect();
    }
  };
  const waitUp = async (port: number) => {
    const deadline = Date.now() + 10_000;
    while ((await ask<string>(port, false, 'PING')) !== 'PONG') {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
      await sleep(50);
    }
  };
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const primary = { port: primaryPort, process: server('primary', primaryPort, []) };
  await waitUp(primaryPort);
  const replica = { port: replicaPort, process: server('replica', replicaPort, [`replicaof 127.0.0.1 ${primaryPort}`]) };
  await waitUp(replicaPort);

  const sentinels: SentinelCluster['sentinels'] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${i}.conf`);
    // Sentinel rewrites its own file (known replicas, other Sentinels, the current epoch).
    writeFileSync(
      conf,
      [
        ...listen(port),
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
        ...(user ? [`sentinel auth-user ${MASTER_NAME} ${user.name}`, `sentinel auth-pass ${MASTER_NAME} ${user.password}`] : []),
        ...(options.sentinelPassword ? [`requirepass ${options.sentinelPassword}`] : []),
        ...(options.sentinelAcl ?? []),
        `sentinel down-after-milliseconds ${MASTER_NAME} ${options.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    sentinels.push({ port, process: spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }) });
  }

  const cluster: SentinelCluster = {
    masterName: MASTER_NAME,
    primary,
    replica,
    sentinels,
    sentinelList: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    async currentPrimary() {
      for (const s of sentinels) {
        const answer = await ask<[string, string]>(s.port, true, 'SENTINEL', 'get-master-addr-by-name', MASTER_NAME);
        if (answer) return `${answer[0]}:${answer[1]}`;
      }
      return undefined;
    },
    async stop() {
      await Promise.all([...sentinels, replica, primary].map((p) => stopProcess(p.process)));
      rmSync(dir, { recursive: true, force: true });
    },
  };

  // Ready when the replica is in sync and every Sentinel knows the replica and the two other Sentinels.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const info = (await ask<string>(replicaPort, false, 'INFO', 'replication')) ?? '';
    let known = info.includes('master_link_status:up');
    for (const s of sentinels) {
      if (!known) break;
      const replicas = (await ask<unknown[]>(s.port, true, 'SENTINEL', 'replicas', MASTER_NAME)) ?? [];
      const others = (await ask<unknown[]>(s.port, true, 'SENTINEL', 'sentinels', MASTER_NAME)) ?? [];
      known = replicas.length === 1 && others.length === 2;
    }
    if (known) return cluster;
    if (Date.now() > deadline) {
      await cluster.stop();
      throw new Error('the Sentinel cluster did not form within 60 s');
    }
    await sleep(200);
  }
}

/**
 * A stand-in Sentinel that answers `SENTINEL get-master-addr-by-name` with `master` (changeable)
 * and publishes `+switch-master` when a test says so: real Sentinels choose the moment themselves.
 * It speaks just enough RESP for ioredis' Sentinel lookups and subscriptions.
 */
export interface FakeSentinel {
  port: number;
  /** What it names as the primary (host may be a name, as with `announce-hostnames yes`). */
  master: { host: string; port: number };
  /** How many connections are subscribed to its announcements. */
  subscribers(): number;
  /** How many times it has been asked for the primary (`SENTINEL get-master-addr-by-name`). */
  asked(): number;
  /** Sends `+switch-master <message>` to every subscriber. */
  announce(message: string): void;
  close(): Promise<void>;
}

export async function startFakeSentinel(master: { host: string; port: number }): Promise<FakeSentinel> {
  const encode = (value: unknown): string =>
    Array.isArray(value) ? `*${value.length}\r\n${value.map(encode).join('')}` : typeof value === 'number' ? `:${value}\r\n` : `$${Buffer.byteLength(String(value))}\r\n${value}\r\n`;
  const sockets = new Set<Socket>();
  const subscribers = new Set<Socket>();
  let asked = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      subscribers.delete(socket);
    });
    socket.on('error', () => {});
    let buffer = '';
    socket.on('data', (data) => {
      buffer += data.toString();
      for (;;) {
        // One complete RESP array of bulk strings, or wait for more data.
        const head = /^\*(\d+)\r\n/.exec(buffer);
        if (!head) return;
        let at = head[0].length;
        const args: string[] = [];
        for (let i = 0; i < Number(head[1]); i++) {
          const bulk = /^\$(\d+)\r\n/.exec(buffer.slice(at));
          if (!bulk) return;
          const start = at + bulk[0].length;
          if (buffer.length < start + Number(bulk[1]) + 2) return;
          args.push(buffer.slice(start, start + Number(bulk[1])));
          at = start + Number(bulk[1]) + 2;
        }
        buffer = buffer.slice(at);
        const [command, sub] = args.map((a) => a.toLowerCase());
        if (command === 'sentinel' && sub === 'get-master-addr-by-name') {
          asked++;
          socket.write(encode([fake.master.host, String(fake.master.port)]));
        }
        else if (command === 'sentinel') socket.write('*0\r\n');
        else if (command === 'subscribe') {
          subscribers.add(socket);
          socket.write(encode(['subscribe', args[1], 1]));
        } else socket.write('+OK\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fake: FakeSentinel = {
    port: (server.address() as { port: number }).port,
    master: { ...master },
    subscribers: () => subscribers.size,
    asked: () => asked,
    announce(message) {
      for (const socket of subscribers) socket.write(encode(['message', '+switch-master', message]));
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return fake;
}
