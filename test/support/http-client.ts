import { Agent, setGlobalDispatcher } from 'undici';

/**
 * The tests' fetch reuses an idle keep-alive connection for at most 1 s. The facade (Node's http
 * server) closes idle connections after 5 s; undici's default reuse window is the server's 5 s hint
 * less 1 s, kept by coarse timers, so after a pause of about 5 s in a busy test process it can hand
 * out a connection the server is closing, and the request fails with "other side closed" (seen once
 * on CI: the first request of a fuzz batch after a pause). A connection reused within 1 s is never
 * near the server's limit. Loaded for every test file by vitest.config.ts (setupFiles).
 */
setGlobalDispatcher(new Agent({ keepAliveTimeout: 1000, keepAliveMaxTimeout: 1000 }));
