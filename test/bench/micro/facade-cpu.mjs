// Facade CPU per request over real HTTP (in-process scripted JobRunner, no Redis): the app served by
// @hono/node-server in this process, a fetch client in a child process; process.cpuUsage around N sequential requests.
// node --conditions=source --import tsx test/bench/micro/facade-cpu.mjs <repo root, e.g. $PWD>
import { fork } from 'node:child_process';
const root = process.argv[2];
const { serve } = await import(`${root}/node_modules/@hono/node-server/dist/index.mjs`);
const s = await import(`${root}/apps/facade/test/support.ts`);
const { app } = s.inProcessApp(() => s.resourceReply(s.stored(s.booking()), 201));
const server = serve({ fetch: app.fetch, port: 0 });
await new Promise((r) => server.once('listening', r));
const port = server.address().port;
const N = Number(process.env.N ?? 2000);
const cases = {
  metadata: { method: 'GET', path: '/metadata', headers: s.headersFor('metadata', { 'Accept-Encoding': 'gzip' }) },
  'metadata, no gzip': { method: 'GET', path: '/metadata', headers: s.headersFor('metadata') },
  book: { method: 'POST', path: '/Appointment', headers: s.headersFor('book', { 'Accept-Encoding': 'gzip', 'Content-Type': 'application/fhir+json' }), body: JSON.stringify(s.booking()) },
};
const client = `
const [port, N, c] = [process.argv[2], Number(process.argv[3]), JSON.parse(process.argv[4])];
const url = 'http://127.0.0.1:' + port + '/STU3/1' + c.path;
const one = async () => { const r = await fetch(url, { method: c.method, headers: c.headers, body: c.body }); await r.arrayBuffer(); if (r.status >= 300) throw new Error(String(r.status)); };
for (let i = 0; i < 200; i++) await one();
process.send('warm'); await new Promise((r) => process.once('message', r));
for (let i = 0; i < N; i++) await one();
process.send('done');`;
for (const [name, c] of Object.entries(cases).filter(([n]) => !process.env.CASE || n === process.env.CASE)) {
  const child = fork('-e', [], { execArgv: ['-e', client, '--', '_', String(port), String(N), JSON.stringify(c)] });
  await new Promise((r) => child.once('message', r));
  const t0 = process.cpuUsage();
  child.send('go');
  await new Promise((r) => child.once('message', r));
  const d = process.cpuUsage(t0);
  console.log(`${name}: ${((d.user + d.system) / 1000 / N).toFixed(3)} ms facade CPU per request (N=${N})`);
  child.kill();
}
server.close();
process.exit(0);
