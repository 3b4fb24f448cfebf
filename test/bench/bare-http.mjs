// The bare-HTTP limits of `npm run bench`: a server in a process of its own that answers every
// request with the same bytes and headers the facade sends for GET /metadata (body given in
// BARE_BODY_FILE), and nothing else: no checks, no audit. Prints its port.
//   BARE_FRAMEWORK unset: plain Node `http`, no framework at all.
//   BARE_FRAMEWORK=hono: the facade's framework and adapter (Hono on @hono/node-server) with no
//   middleware, so the report can tell what Hono costs from what the facade's checks cost.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const body = readFileSync(process.env.BARE_BODY_FILE);
const headers = JSON.parse(process.env.BARE_HEADERS ?? '{}');
const ready = (port) => console.log(JSON.stringify({ port }));
let server;
if (process.env.BARE_FRAMEWORK === 'hono') {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  // The bytes as they are (gzipped, as the facade sends its CapabilityStatement's kept gzip).
  const app = new Hono().all('*', (c) => c.body(new Uint8Array(body), 200, headers));
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => ready(info.port));
} else {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { ...headers, 'Content-Length': body.length });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => ready(server.address().port));
}
process.on('SIGTERM', () => server.close(() => process.exit(0)));
