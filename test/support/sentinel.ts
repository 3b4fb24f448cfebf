import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { stopProcess, waitForRedis } from './redis.js';

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

export async function startSentinelCluster(): Promise<SentinelCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'booking-sentinel-'));
  const server = (name: string, port: number, extra: string[]) => {
    const data = join(dir, name);
    mkdirSync(data, { recursive: true });
    return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', data, ...extra], { stdio: 'ignore' });
  };
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const primary = { port: primaryPort, process: server('primary', primaryPort, []) };
  await waitForRedis(`redis://127.0.0.1:${primaryPort}`);
  const replica = { port: replicaPort, process: server('replica', replicaPort, ['--replicaof', '127.0.0.1', String(primaryPort)]) };
  await waitForRedis(`redis://127.0.0.1:${replicaPort}`);

  const sentinels: SentinelCluster['sentinels'] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${i}.conf`);
    // Sentinel rewrites its own file (known replicas, other Sentinels, the current epoch).
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    sentinels.push({ port, process: spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }) });
  }

  const ask = async <T>(port: number, ...args: string[]): Promise<T | undefined> => {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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
  const cluster: SentinelCluster = {
    masterName: MASTER_NAME,
    primary,
    replica,
    sentinels,
    sentinelList: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    async currentPrimary() {
      for (const s of sentinels) {
        const answer = await ask<[string, string]>(s.port, 'SENTINEL', 'get-master-addr-by-name', MASTER_NAME);
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
    const info = (await ask<string>(replicaPort, 'INFO', 'replication')) ?? '';
    let known = info.includes('master_link_status:up');
    for (const s of sentinels) {
      if (!known) break;
      const replicas = (await ask<unknown[]>(s.port, 'SENTINEL', 'replicas', MASTER_NAME)) ?? [];
      const others = (await ask<unknown[]>(s.port, 'SENTINEL', 'sentinels', MASTER_NAME)) ?? [];
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
