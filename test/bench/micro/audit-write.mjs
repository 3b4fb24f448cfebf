// Audit write micro-measurement (bench/FINDINGS.md): append + fdatasync against one O_DSYNC write.
//   node test/bench/micro/audit-write.mjs [dir]
import { open } from 'node:fs/promises';
import { constants as C, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
const dir = mkdtempSync(join(process.argv[2] ?? '/tmp', 'auditm-'));
const line = JSON.stringify({ time: new Date().toISOString(), event: 'request', interaction: 'book', method: 'POST', path: '/STU3/1/Appointment', status: 201, outcome: 'RESOURCE_CREATED', requestId: crypto.randomUUID(), consumerRequestId: crypto.randomUUID(), sspTraceId: crypto.randomUUID(), iss: 'https://consumer.example.nhs.uk/', sub: '10019' }) + '\n';
async function run(name, h, write, n = 2000) {
  for (let i = 0; i < 200; i++) await write(h);
  const ms = []; const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) { const t = performance.now(); await write(h); ms.push(performance.now() - t); }
  const cpu = process.cpuUsage(c0); ms.sort((a, b) => a - b);
  console.log(`${name}: p50 ${ms[n / 2].toFixed(3)} ms p95 ${ms[Math.floor(n * 0.95)].toFixed(3)} ms; cpu/write ${((cpu.user + cpu.system) / n / 1000).toFixed(3)} ms (user ${(cpu.user / n / 1000).toFixed(3)} sys ${(cpu.system / n / 1000).toFixed(3)})`);
}
const a = await open(join(dir, 'a.jsonl'), 'a+', 0o640);
await run('appendFile+datasync', a, async (h) => { await h.appendFile(line); await h.datasync(); });
const b = await open(join(dir, 'b.jsonl'), C.O_RDWR | C.O_APPEND | C.O_CREAT | C.O_DSYNC, 0o640);
const buf = Buffer.from(line);
await run('O_DSYNC write', b, async (h) => { await h.write(line); });
await run('O_DSYNC write(buffer)', b, async (h) => { await h.write(buf); });
const c = await open(join(dir, 'c.jsonl'), 'a', 0o640);
await run('appendFile only (not durable)', c, async (h) => { await h.appendFile(line); });
await run('write only (not durable)', c, async (h) => { await h.write(line); });
