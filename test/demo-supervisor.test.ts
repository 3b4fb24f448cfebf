import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { CrashHistory } from '../scripts/supervisor.js';
import { bookingBody, consumerHeaders, type SlotForBooking } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { freePort } from './support/ports.js';
import { REPO_ROOT } from './support/stack.js';

/**
 * `npm start` as a newcomer runs it (issue 13, part 2): the demo script as a real process, its
 * worker SIGKILLed and restarted while the other worker keeps answering, the facade likewise,
 * Ctrl-C (SIGINT) stopping every child, and the demo data kept for the next start unless --fresh.
 * The back-off and give-up rule is tested in-process.
 */

describe('the demo supervisor\u2019s restart rule', () => {
  const policy = { windowMs: 60_000, maxCrashes: 3, baseDelayMs: 500, maxDelayMs: 1500 };

  it('restarts with a doubling delay, capped, and gives up only after repeated crashes within the window', () => {
    const history = new CrashHistory(policy);
    expect(history.crashed(0)).toEqual({ giveUp: false, delayMs: 500, recent: 1 });
    expect(history.crashed(1000)).toEqual({ giveUp: false, delayMs: 1000, recent: 2 });
    expect(history.crashed(2000)).toEqual({ giveUp: false, delayMs: 1500, recent: 3 });
    expect(history.crashed(3000)).toMatchObject({ giveUp: true, recent: 4 });
  });

  it('forgets crashes older than the window: a process that dies once an hour is restarted for ever', () => {
    const history = new CrashHistory(policy);
    for (let hour = 0; hour < 10; hour++) expect(history.crashed(hour * 3_600_000)).toEqual({ giveUp: false, delayMs: 500, recent: 1 });
  });
});

/** The demo as `npm start -- <args>` runs it, on free ports, with its PAS in a temporary directory. */
class Demo {
  readonly output: string[] = [];
  readonly child: ChildProcess;

  constructor(
    readonly env: Record<string, string>,
    args: string[],
  ) {
    // What scripts/start-demo.sh execs once the prerequisites are in place (npm test saw to them).
    this.child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'scripts/demo.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, like a terminal's foreground job: Ctrl-C reaches the whole group.
      detached: true,
    });
    const keep = (chunk: Buffer) => this.output.push(chunk.toString());
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
  }

  text(): string {
    return this.output.join('');
  }

  /** Waits (bounded) until the demo's output matches; returns the match. */
  async waitFor(pattern: RegExp, timeoutMs = 120_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.text());
      if (match) return match;
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`demo output never matched ${pattern}:\n${this.text().slice(-6000)}`);
      await sleep(100);
    }
  }

  /** The current pid of each child, from the supervisor's "started/restarted NAME (pid N)" lines. */
  pids(): Record<string, number> {
    const pids: Record<string, number> = {};
    for (const m of this.text().matchAll(/(?:started|restarted) ([\w-]+) \(pid (\d+)\)/g)) pids[m[1] as string] = Number(m[2]);
    return pids;
  }

  /** `ctrlC`: the signal goes to the whole process group, as a terminal's Ctrl-C does. */
  async stop(signal: NodeJS.Signals = 'SIGINT', { ctrlC = false, timeoutMs = 60_000 } = {}): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    if (ctrlC) process.kill(-(this.child.pid as number), signal);
    else this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

const alive = (pid: number) => {
  try {
    // A child re-parented to an init that does not reap it lingers as a zombie: dead all the same.
    if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return false;
  } catch {
    // no /proc (not Linux), or the process is gone: kill(0) decides
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start with a mistyped option', () => {
  it('exits 2 with one line naming the option and the usage, not an ERR_PARSE_ARGS stack', () => {
    const run = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'scripts/demo.ts', '--slot', '5'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr.trim()).toMatch(/^demo: Unknown option '--slot'[^\n]*; usage: npm start -- \[--fresh\] \[--slots N\] \[--workers N\]$/);
  });
});

describe('npm start supervises its processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'booking-demo-'));
  const pasPath = join(dir, 'demo-pas.sqlite');
  let demo: Demo | undefined;
  afterAll(async () => {
    // After a failure: no child may outlive the test holding a port.
    const children = Object.values(demo?.pids() ?? {});
    await demo?.stop('SIGKILL');
    for (const pid of children.filter(alive)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  async function startDemo(args: string[]): Promise<{ baseUrl: string }> {
    const [port, adminPort, workerAdminPort] = [await freePort(), await freePort(), await freePort()];
    demo = new Demo({ PAS_SQLITE_PATH: pasPath, FACADE_PORT: String(port), ADMIN_PORT: String(adminPort), WORKER_ADMIN_PORT: String(workerAdminPort) }, args);
    await demo.waitFor(/is running/);
    return { baseUrl: `http://127.0.0.1:${port}/STU3/1` };
  }

  function pasRows(sql: string): number {
    const db = new Database(pasPath, { readonly: true });
    try {
      return (db.prepare(sql).get() as { n: number }).n;
    } finally {
      db.close();
    }
  }

  function slots(n: number): SlotForBooking[] {
    const db = new Database(pasPath, { readonly: true });
    try {
      return freeSlots(db, '999999999', n);
    } finally {
      db.close();
    }
  }

  async function book(baseUrl: string, slot: SlotForBooking): Promise<number> {
    const res = await fetch(`${baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(baseUrl, 'book', { 'X-Request-ID': randomUUID() }), body: JSON.stringify(bookingBody(slot)) });
    await res.arrayBuffer();
    return res.status;
  }

  /** Books until one answers 201, with a generous bound (a restarting facade refuses connections for a moment). */
  async function bookEventually(baseUrl: string, candidates: SlotForBooking[], timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let status = 0;
    for (const slot of candidates) {
      status = await book(baseUrl, slot).catch(() => 0);
      if (status === 201 || Date.now() > deadline) return status;
      await sleep(250);
    }
    return status;
  }

  it('restarts a SIGKILLed worker (the other one answering meanwhile) and a SIGKILLed facade; SIGINT stops every child', { timeout: 300_000 }, async () => {
    const { baseUrl } = await startDemo(['--fresh', '--slots', '300']);
    expect(pasRows(`SELECT COUNT(*) AS n FROM CLINIC_SLOT WHERE CLINIC_CODE IN (SELECT CLINIC_CODE FROM CLINIC WHERE DOS_SERVICE_ID = '999999999')`)).toBe(300);
    const free = slots(60);
    const first = demo!.pids();
    expect(Object.keys(first).sort()).toEqual(['facade', 'redis-server', 'worker-1', 'worker-2']);
    expect(await book(baseUrl, free[0]!)).toBe(201);

    // A worker dies: the other takes the bookings while it is restarted.
    process.kill(first['worker-1']!, 'SIGKILL');
    for (const slot of free.slice(1, 11)) expect(await book(baseUrl, slot)).toBe(201);
    await demo!.waitFor(/worker-1 \(pid \d+\) died \(SIGKILL\)[^\n]*restarting in/);
    await demo!.waitFor(/restarted worker-1 \(pid \d+\)/);
    const restartedWorker = demo!.pids()['worker-1']!;
    expect(restartedWorker).not.toBe(first['worker-1']);
    expect(alive(restartedWorker)).toBe(true);

    // The facade dies: it is back on the same port, answering, after its back-off.
    process.kill(first.facade!, 'SIGKILL');
    await demo!.waitFor(/restarted facade \(pid \d+\)/);
    expect(await bookEventually(baseUrl, free.slice(11, 60))).toBe(201);
    expect(demo!.child.exitCode).toBeNull();

    // Ctrl-C (SIGINT to the whole process group): everything stops, the demo exits 0.
    const running = Object.values(demo!.pids());
    expect(await demo!.stop('SIGINT', { ctrlC: true })).toBe(0);
    expect(demo!.text()).toMatch(/demo: stopped/);
    expect(running.filter(alive)).toEqual([]);
  });

  it('gives up loudly, stopping every child, when a process cannot start (a configuration error is not retried)', { timeout: 120_000 }, async () => {
    const [port, adminPort, workerAdminPort] = [await freePort(), await freePort(), await freePort()];
    demo = new Demo({ PAS_SQLITE_PATH: pasPath, FACADE_PORT: String(port), ADMIN_PORT: String(adminPort), WORKER_ADMIN_PORT: String(workerAdminPort), WORKER_CONCURRENCY: '0' }, []);
    const exited = new Promise<number | null>((resolve) => demo!.child.once('exit', (code) => resolve(code)));
    await demo.waitFor(/GIVING UP: worker-\d exited with exit code 78 \(a configuration error\)/);
    expect(await exited).toBe(1);
    expect(demo.text()).toMatch(/WORKER_CONCURRENCY/);
    expect(Object.values(demo.pids()).filter(alive)).toEqual([]);
  });

  it('takes its children with it when the supervisor itself is killed (kill -9): nothing is left holding a port', { timeout: 180_000 }, async () => {
    await startDemo([]);
    const children = Object.values(demo!.pids());
    expect(children).toHaveLength(4); // redis-server, two workers, the facade
    expect(children.filter(alive)).toHaveLength(4);
    try {
      expect(await demo!.stop('SIGKILL')).toBeNull();
      // Each child stops as on SIGTERM (the facade drains, a worker finishes its jobs): a bounded wait.
      for (let i = 0; i < 600 && children.some(alive); i++) await sleep(100);
      expect(children.filter(alive), 'children still running after the supervisor was killed').toEqual([]);
    } finally {
      for (const pid of children.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  });

  it('keeps the demo data for the next start, and replaces it with --fresh', { timeout: 300_000 }, async () => {
    const booked = pasRows(`SELECT COUNT(*) AS n FROM APPOINTMENT`);
    expect(booked).toBeGreaterThan(0);
    await startDemo(['--slots', '50']);
    expect(demo!.text()).toMatch(/kept the demo PAS from the last start/);
    expect(demo!.text()).toMatch(/--slots 50 applies to a new data set only/);
    expect(pasRows(`SELECT COUNT(*) AS n FROM APPOINTMENT`)).toBe(booked);
    expect(await demo!.stop('SIGINT')).toBe(0);

    await startDemo(['--fresh', '--slots', '50']);
    expect(pasRows(`SELECT COUNT(*) AS n FROM APPOINTMENT`)).toBe(0);
    expect(pasRows(`SELECT COUNT(*) AS n FROM CLINIC_SLOT WHERE CLINIC_CODE IN (SELECT CLINIC_CODE FROM CLINIC WHERE DOS_SERVICE_ID = '999999999')`)).toBe(50);
    expect(await demo!.stop('SIGINT')).toBe(0);
  });
});
