import { X509Certificate } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Env, loadConfig, redisSettings, withRedisLogin, z } from '@booking/config';
import { facadeSchema } from '@booking/facade/config';
import { crlBlocks } from '@booking/facade/security/setup';
import { X509Crl } from '@peculiar/x509';
import { legacyCode, TABLES } from '@booking/pas';
import { describeRedisTarget, type RedisTarget, redisOptions } from '@booking/queue';
import { Redis } from 'ioredis';
import { type ConnectFailure, connectFailure } from '../connect-failure.js';
import { CliError, EXIT, type ExitCode } from '../exit-codes.js';
import { openPas, type PasConnection } from '../pas-access.js';
import { columnTypeFindings, configuredStatusCodes, type StatusCodes, slotSearchIndexFindings, statusCodeFindings, storedStatusCodes, triggerFindings } from '../pas-mapping-checks.js';
import { type Catalog, checkCatalog, mssqlCatalog, mssqlPermissionFindings, sqliteCatalog } from '../pas-schema.js';
import { type CheckResult, printResults, summary } from '../report.js';
import { facadeProblems, pasTarget, placeholderSettings, settingValue, unknownSettings, workerProblems } from '../settings.js';

export interface DoctorOptions {
  app: 'facade' | 'worker' | 'all';
  json: boolean;
  /** Clock skew beyond this warns (JWT iat/exp checks depend on the clocks agreeing). */
  maxSkewSeconds: number;
}

/** Redis and PAS connections give up after this long: doctor should answer, not hang. */
const CONNECT_TIMEOUT_MS = 5000;

/** What to do about a bad setting; a problem that names none gets advice that fits any. */
export function configFix(setting: string | undefined): string {
  if (setting === undefined) return 'correct the setting the message describes (in the environment or CONFIG_FILE), then run doctor again';
  if (setting === 'CONFIG_FILE') return 'make CONFIG_FILE name a readable JSON file of settings';
  if (setting.endsWith('_FILE')) return `make the file ${setting} names readable by this user`;
  return `set ${setting} (environment, CONFIG_FILE or ${setting}_FILE)`;
}

export async function doctor(options: DoctorOptions, env: Env = process.env): Promise<ExitCode> {
  const results: CheckResult[] = [];
  const apps: ('facade' | 'worker')[] = options.app === 'all' ? ['facade', 'worker'] : [options.app];

  // 1. Configuration: every bad setting, one line each, named.
  let configOk = true;
  for (const app of apps) {
    const problems = app === 'facade' ? facadeProblems(env) : workerProblems(env);
    if (problems.length === 0) results.push({ status: 'ok', check: 'config', subject: app, message: `${app} settings valid` });
    for (const p of problems) {
      configOk = false;
      results.push({ status: 'fail', check: 'config', subject: p.setting ?? `${app} settings`, message: `${app}: ${p.message}`, fix: configFix(p.setting) });
    }
  }
  for (const u of unknownSettings(env)) {
    const where = u.source === 'CONFIG_FILE' ? `CONFIG_FILE key ${u.name}` : `environment variable ${u.name}`;
    results.push({ status: 'warn', check: 'config', subject: u.name, message: `${where} is no setting of the facade or the worker: ignored${u.closest ? ` (did you mean ${u.closest}?)` : ''}`, fix: u.closest ? `rename it ${u.closest}` : 'remove it, or correct its name (README, Configuration)' });
  }
  for (const p of placeholderSettings(apps, env)) {
    results.push({ status: 'warn', check: 'config', subject: p.setting, message: `${p.setting} is still the shipped placeholder ${p.value} (fine for the demo only)`, fix: `set ${p.setting} to ${p.own}` });
  }
  if (apps.includes('facade')) results.push(...facadeExtras(env));

  // 2. Redis (the primary its Sentinels name, with REDIS_SENTINELS), with its clock.
  const redisTarget = redisTargetOf(env);
  const sentinels = redisTarget?.REDIS_SENTINELS ? await checkSentinels(redisTarget) : undefined;
  if (sentinels) results.push(sentinels);
  if (!redisTarget) results.push({ status: 'skip', check: 'redis', subject: 'REDIS_URL', message: 'not checked: the Redis settings are invalid' });
  // Without a primary named there is nothing to connect to; the Sentinels' line says why (and whether they were reached).
  else if (sentinels?.status === 'fail') results.push({ status: 'skip', check: 'redis', subject: 'REDIS_URL', message: 'not checked: the Sentinels named no primary' });
  else results.push(...(await checkRedis(redisTarget, options.maxSkewSeconds)));

  // 3. The PAS the worker would use: schema, grants, clock.
  if (apps.includes('worker')) {
    let target: ReturnType<typeof pasTarget> | undefined;
    try {
      target = pasTarget({}, env);
    } catch {
      results.push({ status: 'skip', check: 'pas', subject: 'PAS_ADAPTER', message: 'not checked: the PAS settings are invalid' });
    }
    if (target) results.push(...(await checkPas(target, options.maxSkewSeconds, configuredStatusCodes(env))));
  }

  const exitCode = !configOk ? EXIT.CONFIG : verdict(results);
  if (options.json) {
    console.log(JSON.stringify({ ok: exitCode === EXIT.OK, exitCode, results }, null, 2));
  } else {
    console.log(`booking-facade doctor (${apps.join(' + ')})`);
    printResults(results);
    console.log(`${summary(results)}${exitCode === EXIT.OK ? '' : ` \u2192 exit ${exitCode}`}`);
  }
  return exitCode;
}

/**
 * 69 (EX_UNAVAILABLE) when the only failures are services that could not be reached at all: nothing
 * says the installation is wrong, what was to be checked was not there (docs/install.md, exit codes).
 * Any other failure is a finding (1), whatever else could not be reached.
 */
function verdict(results: CheckResult[]): ExitCode {
  const fails = results.filter((r) => r.status === 'fail');
  if (fails.length === 0) return EXIT.OK;
  return fails.every((r) => r.unreachable) ? EXIT.UNAVAILABLE : EXIT.FAILED;
}

/** The facade's own files and listener choices: the audit directory and its TLS certificate. */
function facadeExtras(env: Env): CheckResult[] {
  const results: CheckResult[] = [];
  const auditDir = settingValue(facadeSchema, 'AUDIT_DIR', env);
  if (auditDir) {
    const dir = resolve(auditDir);
    let probe = dir;
    while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
    try {
      accessSync(probe, constants.W_OK);
      results.push({ status: 'ok', check: 'audit', subject: 'AUDIT_DIR', message: `audit trail ${dir}${probe === dir ? '' : ' (will be created)'} is writable` });
    } catch {
      results.push({ status: 'fail', check: 'audit', subject: 'AUDIT_DIR', message: `AUDIT_DIR: ${probe} is not writable by this user`, fix: 'give the facade\u2019s user write access, or point AUDIT_DIR at a writable volume' });
    }
  }
  const tls = settingValue(facadeSchema, 'FACADE_TLS', env);
  const cert = settingValue(facadeSchema, 'FACADE_TLS_CERT', env);
  if (tls === 'off') {
    results.push({ status: 'warn', check: 'config', subject: 'FACADE_TLS', message: 'FACADE_TLS=off: plain HTTP on the consumer port', fix: 'only for the embedded demo and tests: the SSP connects with mutual TLS' });
  } else if (cert) {
    try {
      const x509 = new X509Certificate(cert);
      const days = Math.floor((Date.parse(x509.validTo) - Date.now()) / 86_400_000);
      const what = `server certificate ${x509.subject.replace(/\n/g, ', ')} expires ${x509.validTo}`;
      if (days < 0) results.push({ status: 'fail', check: 'config', subject: 'FACADE_TLS_CERT', message: `${what} (expired)`, fix: 'renew it' });
      else if (days < 30) results.push({ status: 'warn', check: 'config', subject: 'FACADE_TLS_CERT', message: `${what} (in ${days} days)`, fix: 'renew it before then' });
      else results.push({ status: 'ok', check: 'config', subject: 'FACADE_TLS_CERT', message: `${what} (in ${days} days)` });
    } catch {
      // securitySetup reported it already
    }
  }
  const crl = settingValue(facadeSchema, 'FACADE_TLS_CRL', env);
  if (tls !== 'off' && crl) results.push(...crlFindings(crl));
  if (!settingValue(facadeSchema, 'FACADE_BASE_URL', env)) {
    results.push({ status: 'warn', check: 'config', subject: 'FACADE_BASE_URL', message: 'FACADE_BASE_URL is unset: the base URL (and JWT audience) is made from FACADE_HOST:FACADE_PORT', fix: 'set it to the service root published in SDS (nhsMhsEndPoint)' });
  }
  return results;
}

/**
 * Each CRL's next update: past it OpenSSL refuses every client certificate the CA issued, so an
 * expired list stops all bookings; a day ahead is the time to make sure the refresh is running.
 */
export function crlFindings(pem: string, now = Date.now()): CheckResult[] {
  const blocks = crlBlocks(pem);
  if (blocks.length === 0) return [{ status: 'fail', check: 'config', subject: 'FACADE_TLS_CRL', message: 'FACADE_TLS_CRL holds no "X509 CRL" PEM block', fix: 'give the CAs\u2019 revocation lists in PEM' }];
  return blocks.map((block): CheckResult => {
    let crl: X509Crl;
    try {
      crl = new X509Crl(block);
    } catch (error) {
      return { status: 'fail', check: 'config', subject: 'FACADE_TLS_CRL', message: `a CRL does not parse: ${(error as Error).message}`, fix: 'replace it with the CA\u2019s current list' };
    }
    const what = `CRL of ${crl.issuer}`;
    if (!crl.nextUpdate) return { status: 'ok', check: 'config', subject: 'FACADE_TLS_CRL', message: `${what}: no next update given` };
    const hours = Math.floor((crl.nextUpdate.getTime() - now) / 3_600_000);
    const when = `next update ${crl.nextUpdate.toISOString()}`;
    if (hours < 0) return { status: 'fail', check: 'config', subject: 'FACADE_TLS_CRL', message: `${what}: ${when} has passed, so every client certificate of that CA is refused`, fix: 'fetch the CA\u2019s current CRL and copy it over FACADE_TLS_CRL_FILE (reloaded without a restart)' };
    if (hours < 24) return { status: 'warn', check: 'config', subject: 'FACADE_TLS_CRL', message: `${what}: ${when} (in ${hours} h)`, fix: 'make sure the CRL refresh job replaces the file before then' };
    return { status: 'ok', check: 'config', subject: 'FACADE_TLS_CRL', message: `${what}: ${when}` };
  });
}

function skewResult(source: string, skewMs: number, maxSkewSeconds: number): CheckResult {
  const message = `${source} clock is ${skewMs >= 0 ? 'ahead of' : 'behind'} this machine by ${Math.abs(skewMs / 1000).toFixed(2)} s`;
  return Math.abs(skewMs) > maxSkewSeconds * 1000
    ? { status: 'warn', check: 'clock', subject: source, message, fix: `sync both with NTP: JWT iat/exp checks tolerate only JWT_CLOCK_SKEW_SECONDS (beyond ${maxSkewSeconds} s is worth fixing)` }
    : { status: 'ok', check: 'clock', subject: source, message };
}

/** The Redis settings as facade and workers read them, or undefined when invalid (reported as config). */
function redisTargetOf(env: Env): RedisTarget | undefined {
  try {
    return withRedisLogin(loadConfig(z.object(redisSettings), env));
  } catch {
    return undefined;
  }
}

/** Every Sentinel asked for the primary: all reachable, agreeing, and enough of them for a quorum. */
async function checkSentinels(target: RedisTarget): Promise<CheckResult> {
  const sentinels = target.REDIS_SENTINELS ?? [];
  const name = target.REDIS_SENTINEL_MASTER ?? 'mymaster';
  const options = redisOptions(target, 'producer');
  const answers = await Promise.all(
    sentinels.map(async ({ host, port }) => {
      const sentinel = new Redis({ host, port, username: options.sentinelUsername ?? undefined, password: options.sentinelPassword ?? undefined, tls: options.sentinelTLS, lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
      let lastError: Error | undefined; // the cause, when ioredis rejects with only "Connection is closed"
      sentinel.on('error', (error: Error) => (lastError = error));
      try {
        await sentinel.connect();
        const primary = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string] | null;
        const quorum = await sentinel.call('SENTINEL', 'ckquorum', name).then(() => true, () => false);
        return { at: `${host}:${port}`, primary: primary ? `${primary[0]}:${primary[1]}` : undefined, quorum };
      } catch (error) {
        return { at: `${host}:${port}`, error: (lastError ?? (error as Error)).message, failure: connectFailure(lastError ?? error) };
      } finally {
        sentinel.disconnect();
      }
    }),
  );
  const reached = answers.filter((a) => !('error' in a));
  const primaries = [...new Set(reached.map((a) => ('primary' in a ? a.primary : undefined)).filter(Boolean))];
  const unreachable = answers.filter((a) => 'error' in a && a.failure === 'network').map((a) => a.at);
  // Sentinels that are there but refused the login or the TLS handshake, or answered with an error.
  const refused = answers.flatMap((a) => ('error' in a && a.failure !== 'network' ? [a] : []));
  const refusals = refused.map((a) => `; ${a.at}: ${a.error}`).join('');
  const message = `${reached.length}/${sentinels.length} Sentinels reachable${unreachable.length ? ` (not ${unreachable.join(', ')})` : ''}${refusals}; primary of ${name}: ${primaries.join(' or ') || 'unknown'}`;
  const refusalFix = refused.some((a) => a.failure === 'credentials')
    ? 'correct REDIS_SENTINEL_USERNAME and REDIS_SENTINEL_PASSWORD: the Sentinels\u2019 own login (their requirepass or ACL user), not Redis\u2019s'
    : refused.some((a) => a.failure === 'tls')
      ? 'give the CA that signed the Sentinels\u2019 certificates as REDIS_TLS_CA_FILE (or REDIS_TLS_CA), or set REDIS_SENTINEL_TLS=false if the Sentinels do not speak TLS'
      : undefined;
  if (primaries.length === 0) {
    const none = reached.length === 0 && refused.length === 0;
    return { status: 'fail', check: 'redis', subject: 'REDIS_SENTINELS', message, ...(none ? { unreachable: true } : {}), fix: refusalFix ?? `check REDIS_SENTINELS, REDIS_SENTINEL_MASTER (sentinel monitor ${name} …) and the Sentinels' password` };
  }
  const quorum = reached.every((a) => 'quorum' in a && a.quorum);
  if (primaries.length > 1 || unreachable.length > 0 || refused.length > 0 || sentinels.length < 3 || !quorum) {
    return { status: 'warn', check: 'redis', subject: 'REDIS_SENTINELS', message: `${message}${quorum ? '' : '; SENTINEL CKQUORUM fails'}`, fix: refusalFix ?? 'run three or more Sentinels on separate hosts, all reachable, so a failover can be authorised' };
  }
  return { status: 'ok', check: 'redis', subject: 'REDIS_SENTINELS', message: `${message} (quorum ok)` };
}

const REDIS_FAILED: Record<ConnectFailure, string> = { network: 'cannot reach', credentials: 'login refused by', tls: 'TLS failed with', other: 'cannot use' };
const REDIS_FIX: Record<ConnectFailure, string> = {
  network: 'start Redis or correct REDIS_URL',
  credentials: 'correct REDIS_USERNAME and REDIS_PASSWORD (or REDIS_PASSWORD_FILE; or the user and password in REDIS_URL) to match the Redis ACL user',
  tls: 'give the CA that signed the Redis server certificate as REDIS_TLS_CA_FILE (or REDIS_TLS_CA), and name Redis in REDIS_URL by a host name the certificate carries; rediss:// needs Redis\u2019s TLS port',
  other: 'check REDIS_URL and the Redis server\u2019s log',
};

export async function checkRedis(target: RedisTarget | string, maxSkewSeconds: number): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const settings = typeof target === 'string' ? { REDIS_URL: target } : target;
  const url = describeRedisTarget(settings);
  const options = { ...redisOptions(settings, 'producer'), lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, sentinelRetryStrategy: () => null, failoverDetector: false };
  const redis = settings.REDIS_SENTINELS ? new Redis(options) : new Redis(settings.REDIS_URL, options);
  let lastError: Error | undefined; // ioredis says only "Connection is closed"; the cause came as an event
  redis.on('error', (error: Error) => (lastError = error));
  let connected = false;
  try {
    await redis.connect();
    connected = true;
    const t0 = Date.now();
    await redis.ping();
    const rtt = Date.now() - t0;
    const info = parseInfo(await redis.info());
    const version = info.redis_version ?? '?';
    const [major = 0, minor = 0] = version.split('.').map(Number);
    if (major < 5) {
      results.push({ status: 'fail', check: 'redis', subject: 'REDIS_URL', message: `Redis ${version} at ${url}: BullMQ needs 5.0 or later`, fix: 'upgrade Redis (7.x recommended)' });
    } else {
      results.push({ status: major < 6 || (major === 6 && minor < 2) ? 'warn' : 'ok', check: 'redis', subject: 'REDIS_URL', message: `PONG from Redis ${version} at ${url} in ${rtt} ms`, ...(major < 7 ? { fix: 'Redis 6.2 or later is recommended for BullMQ' } : {}) });
    }
    const policy = info.maxmemory_policy ?? 'unknown';
    results.push(
      policy === 'noeviction'
        ? { status: 'ok', check: 'redis', subject: 'maxmemory-policy', message: 'maxmemory-policy noeviction' }
        : { status: 'warn', check: 'redis', subject: 'maxmemory-policy', message: `maxmemory-policy is ${policy}: Redis may evict queue keys under memory pressure`, fix: 'set maxmemory-policy noeviction (BullMQ requires it)' },
    );
    if (info.aof_enabled === '0') {
      results.push({ status: 'warn', check: 'redis', subject: 'appendonly', message: 'appendonly is off: jobs in the queue are lost if Redis restarts', fix: 'set appendonly yes (docker/compose.yaml does)' });
    }
    results.push(await checkRedisCommands(redis));
    const t1 = Date.now();
    const [seconds, micros] = (await redis.time()) as [string | number, string | number];
    const t2 = Date.now();
    results.push(skewResult('Redis', Number(seconds) * 1000 + Number(micros) / 1000 - (t1 + t2) / 2, maxSkewSeconds));
  } catch (error) {
    const cause = lastError ?? (error as Error);
    // Only a network failure before Redis answered is "not reached at all"; a refused login, an
    // untrusted certificate or a connection lost part-way are findings like any other.
    const classified = connectFailure(cause);
    const failure = connected && classified === 'network' ? 'other' : classified;
    results.push({ status: 'fail', check: 'redis', subject: 'REDIS_URL', message: `${REDIS_FAILED[failure]} Redis at ${url}: ${cause.message}`, ...(failure === 'network' ? { unreachable: true as const } : {}), fix: REDIS_FIX[failure] });
  } finally {
    redis.disconnect();
  }
  return results;
}

/**
 * The commands facade and workers run besides queue commands that a narrow Redis ACL may refuse
 * (`+@all -@admin` refuses the CLIENT ones): BullMQ names each worker's connection (SETNAME),
 * facade readiness counts the workers by those names (LIST) — without it readiness is 503 for
 * good — and both read Redis's clock (TIME), on which job deadlines are stamped and checked:
 * without it no job is taken.
 */
const REDIS_COMMANDS = [
  { args: ['CLIENT', 'SETNAME', 'booking-doctor'], rule: '+client|setname' },
  { args: ['CLIENT', 'GETNAME'], rule: '+client|getname' },
  { args: ['CLIENT', 'LIST', 'TYPE', 'pubsub'], rule: '+client|list' },
  { args: ['TIME'], rule: '+time' },
] as const;

/** 'CLIENT SETNAME' for '+client|setname'. */
const commandName = (rule: string) => rule.slice(1).replace('|', ' ').toUpperCase();

async function checkRedisCommands(redis: Redis): Promise<CheckResult> {
  const refused: string[] = [];
  for (const { args, rule } of REDIS_COMMANDS) {
    try {
      const [command, ...rest] = args;
      await redis.call(command, ...rest);
    } catch (error) {
      const message = (error as Error).message;
      if (!/NOPERM/i.test(message)) return { status: 'warn', check: 'redis', subject: 'ACL', message: `${commandName(rule)} failed: ${message}`, fix: `make sure the Redis user may run ${commandName(rule)} (${rule})` };
      refused.push(rule);
    }
  }
  if (refused.length === 0) return { status: 'ok', check: 'redis', subject: 'ACL', message: 'the Redis user may run CLIENT SETNAME, GETNAME, LIST and TIME' };
  return {
    status: 'fail',
    check: 'redis',
    subject: 'ACL',
    message: `the Redis user may not run ${refused.map(commandName).join(', ')}: BullMQ names worker connections and facade readiness counts workers with them (readiness stays 503); job deadlines are read on Redis's clock (TIME: without it no job is taken)`,
    fix: `add ${refused.join(' ')} to the user's ACL rule (ACL SETUSER <user> ${refused.join(' ')}, or the ACL file; docs/install.md)`,
  };
}

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

async function checkPas(target: Parameters<typeof openPas>[0], maxSkewSeconds: number, statusCodes: StatusCodes): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let pas: PasConnection;
  try {
    pas = await openPas(target, { readonly: true, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  } catch (error) {
    const subject = target.kind === 'sqlite' ? 'PAS_SQLITE_PATH' : 'PAS_MSSQL_URL';
    const unreachable = error instanceof CliError && error.exitCode === EXIT.UNAVAILABLE;
    const fix = (error instanceof CliError && error.fix) || (target.kind === 'sqlite' ? 'create it with `booking-facade demo-data --sqlite <path>` or correct PAS_SQLITE_PATH' : 'check the server, the network path and PAS_MSSQL_URL');
    return [{ status: 'fail', check: 'pas', subject, message: (error as Error).message, ...(unreachable ? { unreachable: true as const } : {}), fix }];
  }
  try {
    if (pas.kind === 'sqlite') {
      results.push({ status: 'ok', check: 'pas', subject: 'PAS_SQLITE_PATH', message: `opened ${pas.describe} (read-only)` });
      const catalog = await sqliteCatalog(pas);
      results.push(...checkCatalog(catalog, 'sqlite').map((f) => ({ check: 'pas', ...f })));
      results.push(...(await statusCodeResults(pas, catalog, statusCodes)));
      results.push({ status: 'ok', check: 'clock', subject: 'PAS', message: 'the SQLite PAS uses this machine\u2019s clock' });
      if (catalog.has('CLINIC')) results.push(await bookableClinics(pas));
    } else {
      const t0 = Date.now();
      const about = (await pas.query(`SELECT CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128)) AS v, DB_NAME() AS db, SUSER_SNAME() AS login, SYSUTCDATETIME() AS now_utc`))[0] as { v: string; db: string; login: string; now_utc: Date };
      const t1 = Date.now();
      const { catalog, defaultSchema } = await mssqlCatalog(pas);
      results.push({ status: 'ok', check: 'pas', subject: 'PAS_MSSQL_URL', message: `connected to ${pas.describe}: SQL Server ${about.v}, database ${about.db}, login ${about.login}, default schema ${defaultSchema}` });
      results.push(...checkCatalog(catalog, 'mssql').map((f) => ({ check: 'pas', ...f })));
      results.push(...(await mssqlPermissionFindings(pas, catalog)).map((f) => ({ check: 'pas', ...f })));
      // What breaks a mapping beyond names: types, triggers, the search's covering index, stored codes.
      results.push(...[...columnTypeFindings(catalog, TABLES), ...triggerFindings(catalog), ...slotSearchIndexFindings(catalog)].map((f) => ({ check: 'pas', ...f })));
      results.push(...(await statusCodeResults(pas, catalog, statusCodes)));
      results.push(skewResult('PAS', new Date(about.now_utc).getTime() - (t0 + t1) / 2, maxSkewSeconds));
      if (catalog.has('CLINIC')) results.push(await bookableClinics(pas));
    }
  } catch (error) {
    results.push({ status: 'fail', check: 'pas', subject: 'PAS', message: `checking ${pas.describe} failed: ${(error as Error).message}` });
  } finally {
    await pas.close().catch(() => undefined);
  }
  return results;
}

/** The status codes stored in the PAS against the worker's mapping; a failing query is one finding, not the end of doctor. */
async function statusCodeResults(pas: PasConnection, catalog: Catalog, codes: StatusCodes): Promise<CheckResult[]> {
  try {
    return (await storedStatusCodes(pas, catalog)).flatMap(({ column, rows }) => statusCodeFindings(column, rows, codes)).map((f) => ({ check: 'pas', ...f }));
  } catch (error) {
    return [{ status: 'warn', check: 'pas', subject: 'status codes', message: `could not read the stored status codes: ${(error as Error).message}` }];
  }
}

/**
 * Nothing is bookable until some active clinic carries a DoS service id, counted as the slot search
 * finds them: the flag trimmed, any case; the id with trailing blanks ignored (SQL Server's `=`,
 * RTRIM in SQLite) but not a leading one, which no search matches.
 */
async function bookableClinics(pas: PasConnection): Promise<CheckResult> {
  const n = Number((await pas.query(`SELECT COUNT(*) AS n FROM CLINIC WHERE ${legacyCode('ACTIVE_FLAG')} = 'Y' AND RTRIM(DOS_SERVICE_ID) <> '' AND DOS_SERVICE_ID NOT LIKE ' %'`))[0]?.n ?? 0);
  return n > 0
    ? { status: 'ok', check: 'pas', subject: 'CLINIC', message: `${n} active clinic(s) carry a DoS service id` }
    : { status: 'warn', check: 'pas', subject: 'CLINIC', message: 'no active clinic carries a DoS service id: every slot search will find nothing', fix: 'set CLINIC.DOS_SERVICE_ID for the bookable clinics (or load demo data)' };
}
