// Compression micro-measurement (bench/FINDINGS.md): a web CompressionStream (hono/compress) against zlib.gzipSync.
//   node test/bench/micro/gzip.mjs
import { gzipSync } from 'node:zlib';
const sizes = [300, 3000, 30000];
for (const n of sizes) {
  const text = JSON.stringify({ resourceType: 'CapabilityStatement', pad: 'x'.repeat(0), items: Array.from({ length: Math.ceil(n / 60) }, (_, i) => ({ url: `https://fhir.example/${i}`, code: 'abc' })) }).slice(0, n);
  const N = 2000;
  // CompressionStream as hono's compress() does (Response body piped through it)
  let c0 = process.cpuUsage(); let t0 = performance.now();
  for (let i = 0; i < N; i++) { const r = new Response(new Response(text).body.pipeThrough(new CompressionStream('gzip'))); await r.arrayBuffer(); }
  let c = process.cpuUsage(c0); const cs = [((performance.now() - t0) / N).toFixed(3), ((c.user + c.system) / N / 1000).toFixed(3)];
  c0 = process.cpuUsage(); t0 = performance.now();
  for (let i = 0; i < N; i++) gzipSync(text);
  c = process.cpuUsage(c0); const gs = [((performance.now() - t0) / N).toFixed(3), ((c.user + c.system) / N / 1000).toFixed(3)];
  c0 = process.cpuUsage(); t0 = performance.now();
  for (let i = 0; i < N; i++) gzipSync(text, { level: 1 });
  c = process.cpuUsage(c0); const g1 = [((performance.now() - t0) / N).toFixed(3), ((c.user + c.system) / N / 1000).toFixed(3)];
  console.log(`${n} B: CompressionStream wall ${cs[0]} cpu ${cs[1]} ms; gzipSync wall ${gs[0]} cpu ${gs[1]} ms; gzipSync level 1 wall ${g1[0]} cpu ${g1[1]}`);
}
