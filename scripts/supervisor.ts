/**
 * The embedded demo's process supervisor: restarts a child that dies with a growing back-off, logs
 * each crash and restart, gives up (loudly) only when one child keeps dying fast, and stops every
 * child cleanly on request. Deliberately small: trusts run the product under systemd, Docker or
 * Kubernetes, which supervise it there.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';

export interface RestartPolicy {
  /** Crashes counted within this window… */
  windowMs: number;
  /** …beyond this many, the supervisor gives up. */
  maxCrashes: number;
  /** The first restart waits this long; each further crash in the window doubles it… */
  baseDelayMs: number;
  /** …up to this. */
  maxDelayMs: number;
}

export const DEFAULT_POLICY: RestartPolicy = { windowMs: 60_000, maxCrashes: 5, baseDelayMs: 500, maxDelayMs: 10_000 };

/** One child's recent crashes: when to restart it, or that it is time to give up. */
export class CrashHistory {
  private crashes: number[] = [];

  constructor(private readonly policy: RestartPolicy = DEFAULT_POLICY) {}

  /** Records a crash at `now`; the answer says how long to wait before the restart, or to give up. */
  crashed(now: number): { giveUp: boolean; delayMs: number; recent: number } {
    this.crashes = [...this.crashes.filter((t) => now - t < this.policy.windowMs), now];
    const recent = this.crashes.length;
    const delayMs = Math.min(this.policy.baseDelayMs * 2 ** (recent - 1), this.policy.maxDelayMs);
    return { giveUp: recent > this.policy.maxCrashes, delayMs, recent };
  }
}

/** Exit codes that no restart can cure: the configuration is wrong (EX_CONFIG). */
const PERMANENT_EXIT_CODES = new Set([78]);

/**
 * Whether children can be tied to the supervisor's life: Linux's parent-death signal, set by
 * util-linux's `setpriv --pdeathsig` (2.33+, in every current distribution) before it execs the
 * child, so the pid is the child's own. It survives the exec (neither Node nor redis-server is
 * set-user-ID). Elsewhere the children are started directly, and the demo says they could outlive it.
 */
let setprivWorks: boolean | undefined;
function canTieChildren(log: (line: string) => void): boolean {
  if (setprivWorks === undefined) {
    setprivWorks = process.platform === 'linux' && spawnSync('setpriv', ['--pdeathsig', 'SIGTERM', '--', 'true'], { stdio: 'ignore' }).status === 0;
    if (!setprivWorks) log('setpriv --pdeathsig is not available here: if this supervisor is killed (kill -9), stop its children yourself');
  }
  return setprivWorks;
}

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

interface Supervised {
  spec: ChildSpec;
  child: ChildProcess;
  history: CrashHistory;
  restartTimer?: NodeJS.Timeout;
}

export class Supervisor {
  private readonly children: Supervised[] = [];
  private stopping = false;

  constructor(
    private readonly onGiveUp: (reason: string) => void,
    private readonly policy: RestartPolicy = DEFAULT_POLICY,
    private readonly log: (line: string) => void = (line) => console.error(`demo: ${line}`),
  ) {}

  start(spec: ChildSpec): void {
    const entry: Supervised = { spec, child: this.launch(spec), history: new CrashHistory(this.policy) };
    this.children.push(entry);
    this.watch(entry);
  }

  /** The children's current process ids, by name (for tests and the banner). */
  pids(): Record<string, number | undefined> {
    return Object.fromEntries(this.children.map((c) => [c.spec.name, c.child.pid]));
  }

  private launch(spec: ChildSpec): ChildProcess {
    // The supervisor's own process group: a closed terminal (SIGHUP) or Ctrl-C reaches the children
    // too. A supervisor killed on its own (kill -9, OOM) would leave them running and holding their
    // ports, so each child is started through setpriv with a parent-death signal: the kernel sends
    // it SIGTERM (each stops as it does on SIGTERM) when the supervisor dies, however it dies.
    const [command, args]: [string, string[]] = canTieChildren(this.log) ? ['setpriv', ['--pdeathsig', 'SIGTERM', '--', spec.command, ...spec.args]] : [spec.command, spec.args];
    const child = spawn(command, args, { cwd: spec.cwd, env: { ...process.env, ...spec.env }, stdio: ['ignore', 'inherit', 'inherit'] });
    this.log(`started ${spec.name} (pid ${child.pid})`);
    return child;
  }

  private watch(entry: Supervised): void {
    const started = Date.now();
    entry.child.once('exit', (code, signal) => {
      if (this.stopping) return;
      const ran = ((Date.now() - started) / 1000).toFixed(1);
      const how = signal ?? `exit code ${code}`;
      if (code !== null && PERMANENT_EXIT_CODES.has(code)) {
        this.onGiveUp(`${entry.spec.name} exited with ${how} (a configuration error): restarting it cannot help`);
        return;
      }
      const { giveUp, delayMs, recent } = entry.history.crashed(Date.now());
      if (giveUp) {
        this.onGiveUp(`${entry.spec.name} crashed ${recent} times within ${this.policy.windowMs / 1000} s (last: ${how} after ${ran} s); giving up`);
        return;
      }
      this.log(`${entry.spec.name} (pid ${entry.child.pid}) died (${how}) after ${ran} s; restarting in ${(delayMs / 1000).toFixed(1)} s (crash ${recent} of ${this.policy.maxCrashes} allowed within ${this.policy.windowMs / 1000} s)`);
      entry.restartTimer = setTimeout(() => {
        if (this.stopping) return;
        entry.child = this.launch(entry.spec);
        this.log(`restarted ${entry.spec.name} (pid ${entry.child.pid})`);
        this.watch(entry);
      }, delayMs);
    });
  }

  /** SIGTERM to every child, newest first (the facade before the workers before Redis); SIGKILL after `graceMs`. */
  async stopAll(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    for (const entry of [...this.children].reverse()) {
      clearTimeout(entry.restartTimer);
      const { child } = entry;
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        this.log(`${entry.spec.name} did not stop within ${graceMs / 1000} s; killing it`);
        child.kill('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    }
  }
}
