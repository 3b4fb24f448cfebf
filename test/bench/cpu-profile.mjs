// Preloaded into the facade and workers by `npm run bench -- --profile` (NODE_OPTIONS=--import …):
// Node 20 refuses --cpu-prof in NODE_OPTIONS, so the same V8 CPU profile is taken through the
// inspector and written as <dir>/<role>-<pid>.cpuprofile when the process exits. It also appends
// process.memoryUsage() every second to <role>-<pid>.memory.jsonl, to tell heap from other RSS.
import { appendFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (dir) {
  const role = process.argv[1]?.includes('worker') ? 'worker' : 'facade';
  const mb = (n) => Math.round(n / 1048576);
  setInterval(() => {
    const m = process.memoryUsage();
    appendFileSync(join(dir, `${role}-${process.pid}.memory.jsonl`), `${JSON.stringify({ t: Date.now(), rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) })}\n`);
  }, 1000).unref();
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  // An in-thread inspector session answers synchronously, so this works inside 'exit'.
  process.on('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
