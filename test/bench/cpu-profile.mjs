// Preloaded into the facade and workers by `npm run bench -- --profile` (NODE_OPTIONS=--import …):
// Node 20 refuses --cpu-prof in NODE_OPTIONS, so the same V8 CPU profile is taken through the
// inspector and written as <dir>/<pid>.cpuprofile when the process exits.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  // An in-thread inspector session answers synchronously, so this works inside 'exit'.
  process.on('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(join(dir, `${process.argv[1]?.includes('worker') ? 'worker' : 'facade'}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
