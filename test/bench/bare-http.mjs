// The bare-HTTP limit of `npm run bench`: a plain Node `http` server in a process of its own that
// answers every request with the same bytes and headers the facade sends for GET /metadata (body
// given in BARE_BODY_FILE), and nothing else: no framework, no checks, no audit. Prints its port.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const body = readFileSync(process.env.BARE_BODY_FILE);
const headers = JSON.parse(process.env.BARE_HEADERS ?? '{}');
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { ...headers, 'Content-Length': body.length });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
