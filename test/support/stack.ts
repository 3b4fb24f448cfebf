import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateDemoData } from '@booking/pas';
import { Keyring } from '@booking/queue';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import Database from 'better-sqlite3';
import { freePort } from './ports.js';
import { stopProcess } from './redis.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const PROVIDER_ASID = '200000000359';
/** The facade's admin credentials (queue dashboard) in every test stack. */
export const ADMIN_CREDENTIALS = { username: 'admin', password: 'test-admin-password-0123' };

/**
 * Runs a TypeScript entry point of the repo as a real process (as `npm run dev` would), or with
 * `dist` its compiled JavaScript (`apps/x/src/main.ts` → `apps/x/dist/main.js`, as the images run it;
 * `npm run build` first).
 */
export function spawnTs(entry: string, env: Record<string, string>, name: string, runtime: 'ts' | 'dist' = 'ts'): ManagedProcess {
  const { args, nodeOptions } = nodeLaunch(entry, runtime);
  // The image's NODE_OPTIONS first, so flags given for this run (env.NODE_OPTIONS) come later and win.
  const options = [nodeOptions, env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? ''].join(' ').trim();
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, ...(options ? { NODE_OPTIONS: options } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const managed: ManagedProcess = { name, child, output: [] };
  const keep = (chunk: Buffer) => {
    managed.output.push(chunk.toString());
    if (managed.output.length > 400) managed.output.splice(0, 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return managed;
}

/**
 * Node's arguments and environment for an entry point. `dist` runs the compiled file with the
 * NODE_OPTIONS its Docker image sets (`ENV NODE_OPTIONS=…` in docker/Dockerfile.<app>, e.g. the
 * heap limit), so what runs here is what ships.
 */
export function nodeLaunch(entry: string, runtime: 'ts' | 'dist'): { args: string[]; nodeOptions: string } {
  if (runtime === 'ts') return { args: ['--conditions=source', '--import', 'tsx', entry], nodeOptions: '' };
  const app = /^apps\/([^/]+)\//.exec(entry)?.[1] as string;
  const dockerfile = readFileSync(join(REPO_ROOT, `docker/Dockerfile.${app}`), 'utf8');
  return { args: [entry.replace('/src/', '/dist/').replace(/\.ts$/, '.js')], nodeOptions: /^ENV NODE_OPTIONS="([^"]*)"/m.exec(dockerfile)?.[1] ?? '' };
}

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  output: string[];
  /** The worker's admin listener (health, metrics), when it was given a known port. */
  adminUrl?: string;
}

export interface StackOptions {
  redisUrl: string;
  workers?: number;
  facades?: number;
  slotCount?: number;
  env?: Record<string, string>;
  /** `dist`: run the compiled JavaScript (what ships) instead of TypeScript through tsx. */
  runtime?: 'ts' | 'dist';
}

export interface Facade extends ManagedProcess {
  baseUrl: string;
  adminUrl: string;
}

/**
 * A whole product on the embedded default: a SQLite demo PAS with demo data, worker processes and
 * facade processes, all on one Redis with a queue prefix of their own.
 */
export class Stack {
  readonly dir = mkdtempSync(join(tmpdir(), 'booking-stack-'));
  readonly pasPath = join(this.dir, 'pas.sqlite');
  /** The facades' audit trail (AUDIT_DIR), shared by every facade of the stack. */
  readonly auditDir = join(this.dir, 'audit');
  readonly queuePrefix = `t${randomUUID().slice(0, 8)}`;
  /** The stack's AES-256-GCM key for queue payloads (kid k1). */
  readonly queueKeys = Keyring.generate('k1');
  readonly workers: ManagedProcess[] = [];
  readonly facades: Facade[] = [];

  constructor(readonly options: StackOptions) {}

  static async start(options: StackOptions): Promise<Stack> {
    const stack = new Stack(options);
    const pas = new SqlitePas({ path: stack.pasPath });
    loadDemoDataSqlite(pas.db, generateDemoData({ slotCount: options.slotCount ?? 160 }));
    await pas.close();
    for (let i = 0; i < (options.workers ?? 1); i++) stack.startWorker(await freePort());
    for (let i = 0; i < (options.facades ?? 1); i++) await stack.startFacade();
    await Promise.all(stack.facades.map((f) => stack.waitReady(f)));
    return stack;
  }

  /** How the stack starts a facade or a worker (for reports). */
  commandLine(role: 'facade' | 'worker'): string {
    const { args, nodeOptions } = nodeLaunch(`apps/${role}/src/main.ts`, this.options.runtime ?? 'ts');
    const options = [nodeOptions, this.options.env?.NODE_OPTIONS ?? ''].join(' ').trim();
    return [...(options ? [`NODE_OPTIONS="${options}"`] : []), 'node', ...args].join(' ');
  }

  get baseUrl(): string {
    return (this.facades[0] as Facade).baseUrl;
  }

  commonEnv(): Record<string, string> {
    return { REDIS_URL: this.options.redisUrl, QUEUE_PREFIX: this.queuePrefix, QUEUE_ENCRYPTION_KEYS: this.queueKeys, LOG_LEVEL: 'warn', ADMIN_USERNAME: ADMIN_CREDENTIALS.username, ADMIN_PASSWORD: ADMIN_CREDENTIALS.password, WORKER_ADMIN_PORT: '0', ...this.options.env };
  }

  /** Without a port the worker's admin listener takes any free one (workers must not collide on 9091). `extra` adds settings for this worker only. */
  startWorker(adminPort?: number, extra: Record<string, string> = {}): ManagedProcess {
    const env = { ...this.commonEnv(), ...extra, PAS_SQLITE_PATH: this.pasPath, WORKER_ADMIN_PORT: String(adminPort ?? 0) };
    const worker = spawnTs('apps/worker/src/main.ts', env, `worker${this.workers.length}`, this.options.runtime);
    if (adminPort) worker.adminUrl = `http://127.0.0.1:${adminPort}`;
    this.workers.push(worker);
    return worker;
  }

  /** `env` adds settings for this facade only (e.g. DASHBOARD_READ_ONLY). */
  async startFacade(env: Record<string, string> = {}): Promise<Facade> {
    const [port, adminPort] = [await freePort(), await freePort()];
    // Plain HTTP must be asked for (TLS is the default); tests that want TLS set FACADE_TLS=on in options.env.
    const all = { FACADE_TLS: 'off', AUDIT_DIR: this.auditDir, ...this.commonEnv(), ...env, FACADE_PORT: String(port), ADMIN_PORT: String(adminPort) };
    const facade = spawnTs('apps/facade/src/main.ts', all, `facade${this.facades.length}`, this.options.runtime) as Facade;
    facade.baseUrl = `${all.FACADE_TLS === 'off' ? 'http' : 'https'}://127.0.0.1:${port}/STU3/1`;
    facade.adminUrl = `http://127.0.0.1:${adminPort}`;
    this.facades.push(facade);
    return facade;
  }

  /** Waits until the facade answers ready (Redis reachable, a worker connected). */
  async waitReady(facade: Facade, timeoutMs = 30000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (facade.child.exitCode !== null) break;
      try {
        const res = await fetch(`${facade.adminUrl}/health/ready`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`${facade.name} not ready:\n${this.logs()}`);
  }

  /** A read-only view of the PAS for assertions. */
  openPas(): Database.Database {
    return new Database(this.pasPath, { readonly: true, fileMustExist: true });
  }

  logs(): string {
    return [...this.workers, ...this.facades].map((p) => `--- ${p.name}\n${p.output.join('').slice(-4000)}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.facades, ...this.workers].map((p) => stopProcess(p.child)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
