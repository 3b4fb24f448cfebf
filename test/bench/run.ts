/**
 * `npm run bench [-- options]`: the full stack on the embedded default (own redis-server, SQLite
 * demo PAS, worker processes, a facade) driven over HTTP by autocannon, with the bare queue and the
 * bare PAS measured in the same run. Writes bench/REPORT.md and bench/report.json (or, with
 * --quick, bench/quick/) and exits 1 when the regression guard fails.
 *
 *   --quick            small sizes (< 1 min): the regression guard
 *   --soak SECONDS     add a soak (book/read/search mix at 64 connections) and its RSS growth
 *   --workers N        worker processes (default 2)
 *   --profile          facade and workers write .cpuprofile files to bench/profiles/ (read them with
 *                      `node --import tsx test/bench/profile-summary.ts bench/profiles/*.cpuprofile`)
 *   --node-flags="…"   more node flags for facade and workers (via NODE_OPTIONS, so only flags it allows)
 *   --out DIR          where the report goes
 *   --only a,b         only the scenarios whose names start so (e.g. book-64,search), for profiling
 *   --render FILE      no run: write REPORT.md again from a report.json (e.g. after editing
 *                      bench/FINDINGS.md), next to that file
 *   --runtime ts       facade and workers as TypeScript through tsx (default `dist`: the production
 *                      build, `node <start flags> apps/<app>/dist/main.js`, which `npm run bench` builds first)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { guard, markdown, targets } from './report.js';
import { type BenchResult, runBench } from './scenarios.js';

const root = resolve(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    soak: { type: 'string', default: '0' },
    workers: { type: 'string', default: '2' },
    profile: { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
    out: { type: 'string' },
    only: { type: 'string', default: '' },
    render: { type: 'string' },
    runtime: { type: 'string', default: 'dist' },
  },
});
if (values.runtime !== 'dist' && values.runtime !== 'ts') throw new Error('--runtime is dist or ts');
if (values.runtime === 'dist' && !values.render && !existsSync(join(root, 'apps/facade/dist/main.js'))) throw new Error('no production build: run `npm run build` first (npm run bench does)');

const nodeFlags = values['node-flags'].split(/\s+/).filter(Boolean);
// --cpu-prof is refused in NODE_OPTIONS on Node 20: a preload takes the same profile via the inspector.
const profileDir = join(root, 'bench/profiles');
if (values.profile) {
  mkdirSync(profileDir, { recursive: true });
  process.env.BENCH_CPU_PROFILE_DIR = profileDir;
  nodeFlags.push(`--import=${join(root, 'test/bench/cpu-profile.mjs')}`);
}
const out = resolve(values.out ?? join(root, values.quick ? 'bench/quick' : 'bench'));
const command = ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');

// Hand-written findings (profiles, causes, next steps) travel with the full report.
const findingsFile = join(root, 'bench/FINDINGS.md');
const findingsFor = (quick: boolean) => (!quick && existsSync(findingsFile) ? readFileSync(findingsFile, 'utf8') : '');

if (values.render) {
  const file = resolve(values.render);
  const saved = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
  writeFileSync(join(dirname(file), 'REPORT.md'), markdown(saved, findingsFor(saved.options.quick)));
  console.log(`rendered ${join(dirname(file), 'REPORT.md')} from ${file}`);
  process.exit(0);
}

const started = performance.now();
const result = await runBench({
  quick: values.quick,
  workers: Number(values.workers),
  soakSeconds: Number(values.soak),
  nodeFlags,
  only: values.only.split(',').filter(Boolean),
  runtime: values.runtime,
  log: (line) => console.log(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`),
});
result.command = command;

const report = markdown(result, findingsFor(values.quick));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'REPORT.md'), report);
writeFileSync(join(out, 'report.json'), `${JSON.stringify(result, null, 2)}\n`);
// The report itself on stdout (without the hand-written findings), then the targets at a glance.
console.log(`\n${markdown(result)}`);
for (const t of targets(result)) console.log(`${t.met === null ? '—     ' : t.met ? 'met   ' : 'MISSED'}  ${t.target}: ${t.value} (target ${t.limit})`);
console.log(`\nreport: ${join(out, 'REPORT.md')} (${((performance.now() - started) / 1000).toFixed(0)} s)`);

const failures = guard(result);
if (failures.length) {
  console.error(`\nregression guard FAILED:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log('regression guard: passed');
process.exit(0);
