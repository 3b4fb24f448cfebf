import { readFileSync } from 'node:fs';

/** Resident set size of a process in MB, from /proc/<pid>/status (VmRSS); NaN once it is gone. */
export function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat; NaN once gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, at USER_HZ = 100
  } catch {
    return Number.NaN;
  }
}

/** Samples the RSS of named processes every `everyMs` while a scenario runs; keeps every sample. */
export class RssSampler {
  readonly samples = new Map<string, { t: number; mb: number }[]>();
  private timer: NodeJS.Timeout | undefined;
  private readonly started = performance.now();
  private readonly cpuAtStart: Record<string, number>;

  constructor(private readonly pids: Record<string, number>, everyMs = 100) {
    for (const name of Object.keys(pids)) this.samples.set(name, []);
    this.cpuAtStart = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample() {
    const t = (performance.now() - this.started) / 1000;
    for (const [name, pid] of Object.entries(this.pids)) {
      const mb = rssMb(pid);
      if (!Number.isNaN(mb)) this.samples.get(name)?.push({ t, mb });
    }
  }

  stop(): this {
    clearInterval(this.timer);
    this.sample();
    return this;
  }

  /** CPU ms each process used since the sampler started (where the 2 cores went). */
  cpuUsed(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.pids).map(([name, pid]) => [name, cpuMs(pid) - (this.cpuAtStart[name] as number)]));
  }

  /** Peak RSS in MB per process name. */
  peaks(): Record<string, number> {
    return Object.fromEntries([...this.samples].map(([name, s]) => [name, Math.max(...s.map((x) => x.mb))]));
  }

  /** Peak RSS of each process within [from, to) seconds since the sampler started. */
  peaksBetween(from: number, to: number): Record<string, number> {
    return Object.fromEntries([...this.samples].map(([name, s]) => [name, Math.max(...s.filter((x) => x.t >= from && x.t < to).map((x) => x.mb))]));
  }
}
