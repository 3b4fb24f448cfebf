import { Agent, setGlobalDispatcher } from 'undici';

/**
 * The tests' fetch reuses an idle keep-alive connection for at most 1 s, whatever the server says.
 * undici's default reuse window is the server's hint less 1 s, kept by coarse timers: against a
 * server that closes idle connections after 5 s (Node's default, which the facade had until
 * FACADE_KEEP_ALIVE_TIMEOUT_MS), a pause of about 5 s in a busy test process handed out a connection
 * the server was closing ("other side closed", seen once on CI). Tests also start servers of their
 * own (bare http, mocks) on Node's default. Loaded for every test file by vitest.config.ts (setupFiles).
 */
setGlobalDispatcher(new Agent({ keepAliveTimeout: 1000, keepAliveMaxTimeout: 1000 }));
