import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, redisSettings, withRedisLogin, z } from '@booking/config';
import { facadeSchema } from '@booking/facade/config';
import { mssqlConfig } from '@booking/pas/mssql';
import { loadWorkerConfig, workerSchema } from '@booking/worker/config';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantsIn, grantsNeeded } from './support/grants.js';
import { REPO_ROOT } from './support/stack.js';

/**
 * On-prem packaging (docker/), checked without a Docker engine: what docker/compose.yaml and the
 * Dockerfiles name must exist in the code and the repo. No image is built here.
 */

type Json = Record<string, any>;
const DOCKER = join(REPO_ROOT, 'docker');
const compose = parse(readFileSync(join(DOCKER, 'compose.yaml'), 'utf8'), { merge: true }) as Json;
const composeText = readFileSync(join(DOCKER, 'compose.yaml'), 'utf8');
const services = compose.services as Record<string, Json>;

/** The settings in .env.example (what compose interpolates). */
const envExample = Object.fromEntries(
  readFileSync(join(DOCKER, '.env.example'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
) as Record<string, string>;

/** ${VAR}, ${VAR:-default}, ${VAR:?message} as compose resolves them from .env (here .env.example). */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}/g, (_, name: string, op: string | undefined, rest: string | undefined) => {
    if (envExample[name] !== undefined && envExample[name] !== '') return envExample[name] as string;
    return op === '-' ? (rest ?? '') : '';
  });
}

/** The schema(s) a service's settings must come from. */
const SCHEMAS: Record<string, Json[]> = { facade: [facadeSchema.shape], worker: [workerSchema.shape], cli: [facadeSchema.shape, workerSchema.shape] };
const APP_SERVICES = Object.keys(SCHEMAS);

function environment(service: string): Record<string, string> {
  return Object.fromEntries(Object.entries((services[service]?.environment ?? {}) as Record<string, unknown>).map(([k, v]) => [k, interpolate(String(v))]));
}

const source = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

describe('docker/compose.yaml', () => {
  it('has SQL Server 2022, a one-shot PAS init, Redis, the worker, the facade and the CLI', () => {
    expect(Object.keys(services).sort()).toEqual(['cli', 'facade', 'mssql', 'pas-init', 'redis', 'worker']);
    expect(services.mssql?.image).toBe('mcr.microsoft.com/mssql/server:2022-latest');
    expect(services.redis?.image).toBe('redis:7');
    expect(services['pas-init']?.restart).toBe('no');
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Object.keys(s.depends_on ?? {})) expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
    }
  });

  it('every environment variable of facade, worker and cli is a setting of its schema or the *_FILE of one, with a valid value', () => {
    for (const service of APP_SERVICES) {
      const shapes = SCHEMAS[service] as Json[];
      const env = environment(service);
      expect(Object.keys(env).length).toBeGreaterThan(5);
      for (const [name, value] of Object.entries(env)) {
        const setting = name.endsWith('_FILE') ? name.slice(0, -'_FILE'.length) : name;
        const field = shapes.map((s) => s[setting]).find(Boolean);
        expect(field, `${service}: ${name} is no setting of the ${service} configuration`).toBeDefined();
        if (name.endsWith('_FILE')) continue;
        // Interpolated with .env.example's values: every value compose hands over must parse.
        const result = field.safeParse(value === '' ? undefined : value);
        expect(result.success, `${service}: ${name}=${JSON.stringify(value)}: ${JSON.stringify(result.error?.issues)}`).toBe(true);
      }
    }
  });

  it('secrets come from files: every *_FILE points at a secret the service is given, and every secret is defined and used', () => {
    const defined = Object.keys(compose.secrets ?? {});
    const used = new Set<string>();
    for (const [name, s] of Object.entries(services)) {
      for (const secret of (s.secrets ?? []) as string[]) {
        expect(defined, `${name} uses secret ${secret}`).toContain(secret);
        used.add(secret);
      }
      for (const [key, value] of Object.entries((s.environment ?? {}) as Record<string, string>)) {
        if (!key.endsWith('_FILE')) continue;
        const secret = /^\/run\/secrets\/(.+)$/.exec(value)?.[1];
        expect(secret, `${name}: ${key} must name a Docker secret`).toBeDefined();
        expect(s.secrets, `${name}: ${key} needs secret ${secret}`).toContain(secret);
      }
    }
    expect([...used].sort()).toEqual([...defined].sort());
    for (const needed of ['PAS_MSSQL_URL_FILE', 'QUEUE_ENCRYPTION_KEYS_FILE']) expect(services.worker?.environment).toHaveProperty(needed);
    for (const needed of ['QUEUE_ENCRYPTION_KEYS_FILE', 'ADMIN_PASSWORD_FILE', 'FACADE_TLS_CERT_FILE', 'FACADE_TLS_KEY_FILE', 'FACADE_TLS_CA_FILE']) expect(services.facade?.environment).toHaveProperty(needed);
    // The facade holds no PAS credentials.
    expect(Object.keys(services.facade?.environment ?? {}).filter((k) => k.startsWith('PAS_'))).toEqual([]);
    expect(services.facade?.secrets).not.toContain('pas_mssql_url');
    // No secret is passed as plain environment.
    expect(composeText).not.toMatch(/^\s+(MSSQL_SA_PASSWORD|PAS_MSSQL_URL|QUEUE_ENCRYPTION_KEYS|ADMIN_PASSWORD|METRICS_TOKEN):/m);
  });

  it('ports: the consumer port and the admin port (on 127.0.0.1) are the facade\u2019s configured ports', () => {
    const env = environment('facade');
    const ports = (services.facade?.ports as string[]).map(interpolate);
    expect(ports).toContain(`8443:${env.FACADE_PORT}`);
    expect(ports).toContain(`127.0.0.1:9090:${env.ADMIN_PORT}`);
    expect(env.FACADE_PORT).toBe('8443');
    // Nothing else is published: SQL Server, Redis and the worker stay on the compose network.
    for (const name of ['mssql', 'redis', 'worker', 'pas-init', 'cli']) expect(services[name]?.ports, name).toBeUndefined();
  });

  it('volumes: SQL data, Redis data and the audit trail are named volumes; bind mounts exist in the repo', () => {
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual(['audit', 'mssql-data', 'redis-data']);
    for (const [name, s] of Object.entries(services)) {
      for (const volume of (s.volumes ?? []) as string[]) {
        const [from] = volume.split(':') as [string];
        if (from.startsWith('.') || from.startsWith('/')) expect(existsSync(join(DOCKER, from)), `${name}: bind mount ${from}`).toBe(true);
        else expect(compose.volumes, `${name}: volume ${from}`).toHaveProperty(from);
      }
    }
    expect(services.mssql?.volumes).toContain('mssql-data:/var/opt/mssql');
    expect(services.redis?.volumes).toContain('redis-data:/data');
    expect(services.facade?.volumes).toContain(`audit:${environment('facade').AUDIT_DIR}`);
  });

  it('Redis runs with appendonly and maxmemory-policy noeviction', () => {
    const command = (services.redis?.command as string[]).join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--maxmemory-policy noeviction');
  });

  it('pas-init runs the T-SQL in docker/pas with sqlcmd once SQL Server is healthy', () => {
    const init = services['pas-init'] as Json;
    expect(init.depends_on.mssql.condition).toBe('service_healthy');
    expect(init.volumes).toContain('./pas:/pas:ro');
    expect(String(init.command)).toMatch(/sqlcmd/);
    expect(String(init.command)).toContain('/pas/*.sql');
    const scripts = readdirSync(join(DOCKER, 'pas')).filter((f) => f.endsWith('.sql')).sort();
    expect(scripts).toEqual(['01-legacy-schema.sql', '02-booking-schema.sql', '03-demo-seed.sql']);
    expect(services.worker?.depends_on['pas-init'].condition).toBe('service_completed_successfully');
  });

  it('the worker login is granted exactly the columns the adapter reads and writes (@booking/pas TABLES)', () => {
    const sql = String(compose.configs['worker-login.sql'].content);
    expect(grantsIn(sql, 'booking_worker')).toEqual(grantsNeeded());
    expect(sql).not.toMatch(/DELETE|ALTER ON|CONTROL|db_owner/);
  });

  it('every long-running service has a healthcheck; the facade and worker probe health paths their admin apps serve', () => {
    for (const name of ['mssql', 'redis', 'worker', 'facade']) expect(services[name]?.healthcheck?.test, name).toBeDefined();
    const probe = (name: string, portSetting: string, adminSource: string) => {
      const test = (services[name]?.healthcheck?.test as string[]).join(' ');
      const m = /http:\/\/127\.0\.0\.1:(\d+)(\/health\/\w+)/.exec(test);
      expect(m, test).not.toBeNull();
      expect(m?.[1]).toBe(environment(name)[portSetting]);
      expect(source(adminSource)).toContain(`admin.get('${m?.[2]}'`);
    };
    probe('facade', 'ADMIN_PORT', 'apps/facade/src/admin.ts');
    probe('worker', 'WORKER_ADMIN_PORT', 'apps/worker/src/admin.ts');
  });

  it('the cli receives every setting and secret the worker and the facade receive, with the same value (what doctor and consistency check is what runs)', () => {
    const cli = services.cli?.environment as Record<string, unknown>;
    for (const service of ['worker', 'facade']) {
      for (const [name, value] of Object.entries(services[service]?.environment as Record<string, unknown>)) expect(cli[name], `cli: ${name} (as the ${service} has it)`).toBe(value);
      for (const secret of services[service]?.secrets as string[]) expect(services.cli?.secrets, `cli: secret ${secret}`).toContain(secret);
    }
  });

  it('stopping facade or worker waits as long as the app may take to stop by its own deadline, whatever .env sets', () => {
    /** A Compose duration (1m30s, 130s, 500ms) in ms. */
    const ms = (duration: string) =>
      [...duration.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)].reduce((sum, [, n, unit]) => sum + Number(n) * { h: 3600000, m: 60000, s: 1000, ms: 1, us: 0.001 }[unit as 'h'], 0);
    for (const [service, schema] of [['facade', facadeSchema], ['worker', workerSchema]] as const) {
      // main.ts: on SIGTERM the app exits by itself at the latest after config.<SETTING> + <n> ms.
      const deadline = /setTimeout\([\s\S]*?\}, config\.([A-Z_]+) \+ (\d+)\)\.unref\(\)/.exec(source(`apps/${service}/src/main.ts`));
      expect(deadline, `apps/${service}/src/main.ts: the shutdown deadline`).not.toBeNull();
      const [, setting, extra] = deadline as unknown as [string, string, string];
      const field = (schema.shape as Json)[setting];
      const given = (services[service]?.environment as Record<string, string>)[setting];
      // From .env the trust may set any valid value; fixed in compose.yaml, that value; else the default.
      const longest = given === undefined ? Number(field.parse(undefined)) : /\$\{/.test(given) ? Number(field.unwrap().maxValue) : Number(given);
      expect(ms(String(services[service]?.stop_grace_period ?? '10s')), `${service}: stop_grace_period covers ${setting} (up to ${longest} ms) + ${extra} ms`).toBeGreaterThan(longest + Number(extra));
    }
    // docs/install.md advises raising JOB_TIMEOUT_MS: compose hands the facade the value in .env.
    expect(services.facade?.environment?.JOB_TIMEOUT_MS).toMatch(/^\$\{JOB_TIMEOUT_MS:-\d+\}$/);
  });

  it('every ${VAR} compose interpolates is documented in .env.example, and .env.example names nothing else', () => {
    const interpolated = new Set([...composeText.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1] as string));
    // COMPOSE_* variables configure Compose itself (COMPOSE_PROFILES turns the demo PAS on).
    expect([...interpolated].sort()).toEqual(Object.keys(envExample).filter((k) => !k.startsWith('COMPOSE_')).sort());
    const profiles = new Set(Object.values(services).flatMap((s) => (s.profiles ?? []) as string[]));
    for (const p of (envExample.COMPOSE_PROFILES ?? '').split(',').filter(Boolean)) expect(profiles).toContain(p);
    expect(services.mssql?.profiles).toEqual(['demo-pas']);
    expect(services['pas-init']?.profiles).toEqual(['demo-pas']);
    // Without the profile (a trust's own PAS) the worker must not wait for pas-init.
    expect(services.worker?.depends_on['pas-init'].required).toBe(false);
  });
});

/**
 * Compose files merged as `docker compose -f a -f b` merges them (the Compose specification's merge
 * rules): mappings key by key, the later file winning; sequences appended, except command,
 * entrypoint and healthcheck.test (replaced) and the services' secrets, configs and volumes (one
 * entry per source or target).
 */
function composeMerge(base: unknown, over: unknown, path: string[] = []): unknown {
  if (over === undefined) return base;
  const key = path.at(-1) ?? '';
  if (Array.isArray(base) && Array.isArray(over)) {
    if (['command', 'entrypoint'].includes(key) || (key === 'test' && path.at(-2) === 'healthcheck')) return over;
    const unique = path.length === 3 && path[0] === 'services' ? { secrets: sourceOf, configs: sourceOf, volumes: targetOf }[key] : undefined;
    if (!unique) return [...base, ...over];
    return [...new Map([...base, ...over].map((v) => [unique(v), v])).values()];
  }
  if (isMapping(base) && isMapping(over)) {
    const merged: Json = { ...base };
    for (const [k, v] of Object.entries(over)) merged[k] = k in base ? composeMerge(base[k], v, [...path, k]) : v;
    return merged;
  }
  return over;
}
const isMapping = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const sourceOf = (v: unknown) => (typeof v === 'string' ? v : String((v as Json).source));
const targetOf = (v: unknown) => (typeof v === 'string' ? (v.split(':')[1] ?? v) : String((v as Json).target));

/** The shell script a `sh -c` command runs, with compose's `$$` unescaped. */
function shellScript(command: unknown): string {
  const argv = (typeof command === 'string' ? ['sh', '-c', command] : command) as string[];
  expect(argv.slice(0, 2).join(' ')).toMatch(/^(\/bin\/)?sh -c$/);
  return (argv[2] as string).replaceAll('$$', '$');
}

interface RedisUser {
  on: boolean;
  /** The secret file the password comes from; undefined = nopass. */
  secret?: string;
  rules: string[];
}

/**
 * Who a Redis server or Sentinel started by a compose command lets in, read from the script as
 * Redis would read it: the lines its `printf … > file` and here-documents write (each
 * `$(cat /run/secrets/NAME)` standing for that secret) and the redis-server options.
 */
function redisLogins(command: unknown) {
  const script = shellScript(command).replace(/"?\$\(cat \/run\/secrets\/([\w-]+)\)"?/g, '<secret:$1>');
  const directives: string[] = [];
  for (const m of script.matchAll(/printf '([^']*)'((?: <secret:[\w-]+>)*)/g)) {
    const secrets = [...(m[2] as string).matchAll(/<secret:[\w-]+>/g)].map((s) => s[0]);
    directives.push(...(m[1] as string).replace(/%s/g, () => secrets.shift() as string).split('\\n'));
  }
  for (const m of script.matchAll(/<<(\w+)\n([\s\S]*?)\n\s*\1\n/g)) directives.push(...(m[2] as string).split('\n'));
  const server = /exec redis-server (.*)$/m.exec(script)?.[1] ?? '';
  for (const m of server.matchAll(/--([\w-]+) (\S+)/g)) directives.push(`${m[1]} ${m[2]}`);
  const users = new Map<string, RedisUser>([['default', { on: true, rules: ['+@all'] }]]);
  const login = { masteruser: 'default', masterauth: undefined as string | undefined, sentinelUser: 'default', sentinelPass: undefined as string | undefined };
  const secretIn = (word: string | undefined) => /^<secret:([\w-]+)>$/.exec(word ?? '')?.[1];
  for (const line of directives.map((l) => l.trim()).filter(Boolean)) {
    const [word, ...rest] = line.split(/\s+/) as [string, ...string[]];
    if (word === 'user') {
      const [name, ...rules] = rest as [string, ...string[]];
      const password = rules.find((r) => r.startsWith('>'));
      users.set(name, { on: rules.includes('on'), secret: secretIn(password?.slice(1)), rules: rules.filter((r) => r !== password && r !== 'on' && r !== 'off') });
    } else if (word === 'requirepass') users.set('default', { ...(users.get('default') as RedisUser), secret: secretIn(rest[0]) });
    else if (word === 'masteruser') login.masteruser = rest[0] as string;
    else if (word === 'masterauth') login.masterauth = secretIn(rest[0]);
    else if (word === 'sentinel' && rest[0] === 'auth-user') login.sentinelUser = rest[2] as string;
    else if (word === 'sentinel' && rest[0] === 'auth-pass') login.sentinelPass = secretIn(rest[2]);
  }
  return { users, ...login, sentinel: /--sentinel\b/.test(script) };
}

/** Whether ACL rules (left to right) allow a command; @admin holds the replication and Sentinel commands checked here. */
function aclAllows(rules: string[], command: string): boolean {
  const ADMIN = new Set(['psync', 'replconf', 'sync', 'slaveof', 'replicaof', 'config|rewrite', 'client|kill', 'role']);
  let allowed = false;
  for (const rule of rules) {
    if (rule === '+@all' || rule === 'allcommands') allowed = true;
    else if (rule === '-@all' || rule === 'nocommands') allowed = false;
    else if (rule === '-@admin' && ADMIN.has(command)) allowed = false;
    else if (rule === `+${command}` || rule === `+${command.split('|')[0]}`) allowed = true;
    else if (rule === `-${command}`) allowed = false;
  }
  return allowed;
}

describe('docker/compose.sentinel.yaml over docker/compose.yaml', () => {
  const override = parse(readFileSync(join(DOCKER, 'compose.sentinel.yaml'), 'utf8'), { merge: true }) as Json;
  const merged = composeMerge(compose, override) as Json;
  const servers = Object.entries(merged.services as Record<string, Json>).filter(([, s]) => String(s.image).startsWith('redis:'));
  const redisServers = servers.filter(([, s]) => !redisLogins(s.command).sentinel);
  const sentinels = servers.filter(([, s]) => redisLogins(s.command).sentinel);

  /** Each secret file holds a distinct value, so a password read back names the secret it came from. */
  let secretsDir: string;
  const secretValue = (name: string): string => {
    if (name === 'queue_encryption_keys') return `k1:${Buffer.alloc(32, 7).toString('base64')}`;
    if (name === 'pas_mssql_url') return 'mssql://booking_worker:pw@mssql:1433/PAS';
    if (name.endsWith('_url')) return `redis://default:${secretValue('redis_password')}@redis:6379/0`; // as documented for a Redis URL secret
    return `value-of-${name}-0123456789`;
  };
  const secretNamed = (value: string | undefined) => (value === undefined ? undefined : Object.keys(merged.secrets).find((name) => secretValue(name) === value));
  beforeAll(() => {
    secretsDir = mkdtempSync(join(tmpdir(), 'booking-compose-secrets-'));
    for (const name of Object.keys(merged.secrets)) writeFileSync(join(secretsDir, name), secretValue(name));
  });
  afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

  /** A service's merged environment as the container sees it: .env.example interpolated, /run/secrets here. */
  const containerEnv = (service: string) =>
    Object.fromEntries(Object.entries(merged.services[service].environment as Record<string, unknown>).map(([k, v]) => [k, interpolate(String(v)).replace('/run/secrets', secretsDir)]));

  it('has a primary, a replica and three Sentinels', () => {
    expect(redisServers.map(([name]) => name).sort()).toEqual(['redis', 'redis-replica']);
    expect(sentinels).toHaveLength(3);
  });

  it.each(['worker', 'facade', 'cli'])('%s logs in to every Redis server and every Sentinel with a user and password they have', (service) => {
    const env = containerEnv(service);
    // The worker through its own loader; facade and cli through the same Redis settings and login step.
    const config = service === 'worker' ? loadWorkerConfig(env) : withRedisLogin(loadConfig(z.object(redisSettings), env));
    expect(config.REDIS_SENTINELS, 'Sentinel mode').toBeDefined();
    const url = new URL(config.REDIS_URL);
    const user = decodeURIComponent(url.username) || 'default';
    const secret = secretNamed(decodeURIComponent(url.password));
    expect(secret, `${service}: its Redis password is one of the secrets`).toBeDefined();
    for (const needed of [secret, secretNamed(config.REDIS_SENTINEL_PASSWORD)]) expect(merged.services[service].secrets, service).toContain(needed);
    for (const [name, s] of redisServers) {
      expect(redisLogins(s.command).users.get(user), `${name} has the ACL user "${user}" ${service} logs in as`).toMatchObject({ on: true, secret });
      expect(s.secrets, name).toContain(secret);
    }
    for (const [name, s] of sentinels) {
      expect(redisLogins(s.command).users.get(config.REDIS_SENTINEL_USERNAME ?? 'default'), `${name}: ${service}'s Sentinel login`).toMatchObject({ on: true, secret: secretNamed(config.REDIS_SENTINEL_PASSWORD) });
    }
  });

  it('the apps\u2019 user is compose.yaml\u2019s "booking", with the same rights (no admin commands)', () => {
    const single = redisLogins(services.redis?.command).users.get('booking');
    expect(single).toMatchObject({ on: true, secret: 'redis_password' });
    for (const [name, s] of redisServers) expect(redisLogins(s.command).users.get('booking'), name).toEqual(single);
    expect(redisLogins(services.redis?.command).users.get('default')?.on).toBe(false);
    for (const [name, s] of redisServers) expect(redisLogins(s.command).users.get('default')?.on, `${name}: default user off`).toBe(false);
  });

  it('each server can replicate from the other, and the Sentinels can reconfigure both', () => {
    for (const [name, s] of redisServers) {
      const me = redisLogins(s.command);
      for (const [otherName, other] of redisServers) {
        const them = redisLogins(other.command).users.get(me.masteruser);
        expect(them, `${name} logs in to ${otherName} as "${me.masteruser}"`).toMatchObject({ on: true, secret: me.masterauth });
        for (const command of ['psync', 'replconf', 'ping']) expect(aclAllows(them?.rules ?? [], command), `${me.masteruser}: ${command}`).toBe(true);
        expect(s.secrets, name).toContain(me.masterauth);
      }
    }
    for (const [name, s] of sentinels) {
      const sentinel = redisLogins(s.command);
      for (const [serverName, server] of redisServers) {
        const them = redisLogins(server.command).users.get(sentinel.sentinelUser);
        expect(them, `${name} logs in to ${serverName} as "${sentinel.sentinelUser}"`).toMatchObject({ on: true, secret: sentinel.sentinelPass });
        for (const command of ['ping', 'info', 'role', 'slaveof', 'config|rewrite', 'client|kill', 'subscribe', 'publish', 'multi', 'exec']) expect(aclAllows(them?.rules ?? [], command), `${sentinel.sentinelUser}: ${command}`).toBe(true);
      }
      expect(s.secrets, name).toContain(sentinel.sentinelPass);
    }
  });

  it('every secret a service names is defined, and the healthchecks log in as the servers allow', () => {
    for (const [name, s] of Object.entries(merged.services as Record<string, Json>)) for (const secret of (s.secrets ?? []) as string[]) expect(merged.secrets, `${name}: ${secret}`).toHaveProperty(secret);
    for (const [name, s] of redisServers) {
      const test = (s.healthcheck.test as string[]).join(' ');
      const user = /--user (\S+)/.exec(test)?.[1] ?? 'default';
      const secret = /\/run\/secrets\/([\w-]+)/.exec(test)?.[1];
      expect(redisLogins(s.command).users.get(user), `${name}: healthcheck as "${user}"`).toMatchObject({ on: true, secret });
    }
  });
});

describe('docs/install.md', () => {
  it('its shell commands use no variable only docker/.env sets (the shell running `docker compose` never reads .env; only Compose does)', () => {
    const blocks = [...source('docs/install.md').matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks.length).toBeGreaterThan(3);
    const used = blocks.flatMap((b) => [...b.matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)].map((m) => m[1] as string));
    expect(used.filter((name) => name in envExample)).toEqual([]);
  });
});

describe('docs/install.md, 4.1: the generated SQL Server passwords', () => {
  /** The sh lines of 4.1 that write these secret files (continuations joined). */
  const install = source('docs/install.md');
  const section = install.slice(install.indexOf('### 4.1'), install.indexOf('### 4.2'));
  const lines = section.replace(/\\\n\s*/g, '').split('\n').filter((l) => /> secrets\/(pas_worker_password|mssql_sa_password|pas_mssql_url)\b/.test(l));
  /** SQL Server's CHECK_POLICY: at least 8 characters from at least 3 of upper case, lower case, digits, symbols. */
  const classes = (pw: string) => [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(pw)).length;

  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'booking-install-secrets-'));
    // An openssl whose `rand -hex N` / `rand -base64 N` output is as unlucky as it can be: only the
    // characters of one class (FAKE_OPENSSL) that the encoding can produce.
    writeFileSync(
      join(dir, 'openssl'),
      `#!${process.execPath}
const [format, n] = process.argv.slice(3);
const alphabet = format === '-hex' ? '0123456789abcdef' : 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const wanted = { digits: /[0-9]/, lower: /[a-z]/, upper: /[A-Z]/, symbols: /[+/]/ }[process.env.FAKE_OPENSSL];
const chars = [...alphabet].filter((c) => wanted.test(c));
const length = format === '-hex' ? 2 * n : 4 * Math.ceil(n / 3);
const pad = format === '-hex' ? 0 : (3 - (n % 3)) % 3;
const out = Array.from({ length: length - pad }, (_, i) => chars[i % Math.max(chars.length, 1)] ?? '0').join('') + '='.repeat(pad);
process.stdout.write(out + '\\n');
`,
      { mode: 0o755 },
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('4.1 writes the worker password, the sa password and the URL holding the worker password', () => {
    expect(lines.map((l) => /> (secrets\/\w+)/.exec(l)?.[1])).toEqual(['secrets/pas_worker_password', 'secrets/mssql_sa_password', 'secrets/pas_mssql_url']);
  });

  it.each(['digits', 'lower', 'upper', 'symbols'])('meet CHECK_POLICY even when openssl rand gives only %s; the URL carries the worker password unchanged', (unlucky) => {
    const work = mkdtempSync(join(dir, `${unlucky}-`));
    mkdirSync(join(work, 'secrets'));
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', lines.join('\n')], { cwd: work, env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, FAKE_OPENSSL: unlucky }, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const read = (name: string) => readFileSync(join(work, 'secrets', name), 'utf8');
    for (const name of ['pas_worker_password', 'mssql_sa_password']) {
      const password = read(name);
      expect(password.length, name).toBeGreaterThanOrEqual(8);
      expect(classes(password), `${name} ${JSON.stringify(password)}: character classes`).toBeGreaterThanOrEqual(3);
    }
    // Put into the URL as it is (printf, no percent-encoding): only characters a URL keeps as they are.
    expect(read('pas_worker_password')).toMatch(/^[A-Za-z0-9._~-]+$/);
    expect(mssqlConfig(read('pas_mssql_url')).password).toBe(read('pas_worker_password'));
  });
});

describe('docs/install.md, 4.1: the secrets\u2019 permissions', () => {
  const install = source('docs/install.md');
  const section = install.slice(install.indexOf('### 4.1'), install.indexOf('### 4.2'));
  /** The lines that make the directories and set modes, as the operator runs them. */
  const modeLines = section.split('\n').filter((l) => /^(mkdir|chmod|find) /.test(l));

  it('leave every file readable by the containers, secrets/ closed to others and secrets/tls searchable by its owner (certificates can be rotated)', () => {
    const work = mkdtempSync(join(tmpdir(), 'booking-install-modes-'));
    try {
      const [mkdirLine, ...chmodLines] = modeLines;
      const sh = (text: string) => expect(spawnSync('bash', ['-euo', 'pipefail', '-c', text], { cwd: work, encoding: 'utf8' }).status).toBe(0);
      sh(mkdirLine as string);
      for (const file of ['queue_encryption_keys', 'tls/server.crt', 'tls/server.key']) writeFileSync(join(work, 'secrets', file), 'x', { mode: 0o600 });
      sh(chmodLines.join('\n'));
      const mode = (path: string) => statSync(join(work, path)).mode & 0o777;
      expect(mode('secrets')).toBe(0o700);
      expect(mode('secrets/tls') & 0o700).toBe(0o700);
      for (const file of ['secrets/queue_encryption_keys', 'secrets/tls/server.crt', 'secrets/tls/server.key']) expect(mode(file), file).toBe(0o644);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('docs/install.md, 6: the upgrade switch order', () => {
  const install = source('docs/install.md');
  const section = install.slice(install.indexOf('## 6. Upgrades'), install.indexOf('Rotating the TLS certificates'));

  it('switches the facade first without its dependencies, then the worker, and rolls back in reverse (never a new worker beside an old facade)', () => {
    // The facade depends_on the worker: `up -d facade worker` would switch the worker first.
    expect(section.replace('Do not write `docker compose up -d facade worker`', '')).not.toMatch(/up -d facade worker/);
    const facade = section.indexOf('docker compose up -d --no-deps facade');
    const worker = section.indexOf('docker compose up -d worker');
    expect(facade).toBeGreaterThan(0);
    expect(worker).toBeGreaterThan(facade);
    const rollback = section.slice(section.indexOf('8. Roll back'));
    expect(rollback.indexOf('up -d worker')).toBeGreaterThan(0);
    expect(rollback.indexOf('up -d --no-deps facade')).toBeGreaterThan(rollback.indexOf('up -d worker'));
  });
});

/** A Dockerfile as instructions (continuations joined, comments dropped), split into stages. */
function dockerfile(name: string) {
  const text = readFileSync(join(DOCKER, name), 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: { name: string; image: string; lines: string[] }[] = [];
  for (const line of lines) {
    const [op = '', ...rest] = line.split(/\s+/);
    const argument = rest.join(' ');
    if (op === 'ARG' && stages.length === 0) {
      const [k, v = ''] = argument.split('=');
      args[k as string] = v;
    } else if (op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(argument) as RegExpExecArray;
      stages.push({ image: (m[1] as string).replace(/\$\{(\w+)\}/g, (_, a: string) => args[a] ?? ''), name: m[2] ?? String(stages.length), lines: [] });
    } else {
      stages.at(-1)?.lines.push(line);
    }
  }
  return stages;
}

/** The @booking workspaces an app needs at run time: its own and every one they depend on. */
function workspaceClosure(dirs: string[]): string[] {
  const byName = new Map<string, string>();
  for (const base of ['adapters', 'apps']) {
    for (const d of readdirSync(join(REPO_ROOT, base))) {
      const file = join(REPO_ROOT, base, d, 'package.json');
      if (existsSync(file)) byName.set(JSON.parse(readFileSync(file, 'utf8')).name, `${base}/${d}`);
    }
  }
  const seen = new Set<string>();
  const visit = (dir: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const deps = Object.keys(JSON.parse(source(`${dir}/package.json`)).dependencies ?? {});
    for (const dep of deps) if (byName.has(dep)) visit(byName.get(dep) as string);
  };
  dirs.forEach(visit);
  return [...seen].sort();
}

const allWorkspaces = (JSON.parse(source('package.json')).workspaces as string[]).flatMap((glob) => {
  const base = glob.replace(/\/\*$/, '');
  return readdirSync(join(REPO_ROOT, base)).filter((d) => existsSync(join(REPO_ROOT, base, d, 'package.json'))).map((d) => `${base}/${d}`);
});

describe.each([
  { file: 'Dockerfile.facade', app: 'facade', adminPort: '9090', runs: ['apps/facade'] },
  { file: 'Dockerfile.worker', app: 'worker', adminPort: '9091', runs: ['apps/worker', 'apps/cli'] },
])('docker/$file', ({ file, app, adminPort, runs }) => {
  const stages = dockerfile(file);
  const final = stages.at(-1) as (typeof stages)[number];
  const ignore = readFileSync(join(DOCKER, `${file}.dockerignore`), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const ignored = (path: string) =>
    ignore.some((p) => {
      const clean = path.replace(/\/$/, '');
      if (p.startsWith('**/*')) return clean.endsWith(p.slice(4));
      if (p.startsWith('**/')) return clean.split('/').includes(p.slice(3));
      return clean === p || clean.startsWith(`${p}/`);
    });

  it('is multi-stage on node:20-bookworm-slim; the final stage runs as a non-root user with NODE_ENV=production', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
    for (const s of stages) expect(s.image).toBe('node:20-bookworm-slim');
    const users = final.lines.filter((l) => l.startsWith('USER '));
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^USER\s+(root|0)(:|$)/);
    expect(final.lines.some((l) => /^ENV .*NODE_ENV=production/.test(l))).toBe(true);
  });

  it('every file it COPYs from the build context exists in the repo and is not excluded by its .dockerignore', () => {
    let copies = 0;
    for (const stage of stages) {
      for (const line of stage.lines.filter((l) => l.startsWith('COPY '))) {
        const parts = line.split(/\s+/).slice(1).filter((p) => !p.startsWith('--chown') && !p.startsWith('--chmod'));
        if (parts[0]?.startsWith('--from=')) {
          const from = parts[0].slice('--from='.length);
          expect(stages.slice(0, stages.indexOf(stage)).map((s) => s.name), line).toContain(from);
          continue;
        }
        for (const src of parts.slice(0, -1)) {
          expect(existsSync(join(REPO_ROOT, src)), `${line}: ${src}`).toBe(true);
          expect(ignored(src), `${line}: ${src} is excluded by the .dockerignore`).toBe(false);
          copies++;
        }
      }
    }
    expect(copies).toBeGreaterThan(10);
    expect(ignored('apps/facade/node_modules')).toBe(true);
    expect(ignored('docker/secrets/tls/server.key')).toBe(true);
  });

  it('copies every workspace manifest before npm ci, and the compiled code of every workspace the app needs', () => {
    for (const stage of stages.slice(0, 2)) {
      const ci = stage.lines.findIndex((l) => l.includes('npm ci'));
      const before = stage.lines.slice(0, ci).join('\n');
      for (const ws of allWorkspaces) expect(before, `${stage.name}: ${ws}/package.json`).toContain(`COPY ${ws}/package.json ${ws}/`);
    }
    const needed = workspaceClosure(runs);
    for (const ws of needed) {
      expect(final.lines, `${ws}/dist`).toContain(`COPY --from=build /app/${ws}/dist ${ws}/dist`);
      expect(JSON.parse(source(`${ws}/package.json`)).scripts?.build, `${ws} has a build`).toBeDefined();
    }
    expect(final.lines).toContain('COPY adapters/fhir/stu3-structure-definitions.json.gz adapters/fhir/');
    expect(final.lines).toContain('COPY adapters/fhir/stu3-validation.json.gz adapters/fhir/careconnect-profile-rules.json adapters/fhir/');
    if (app === 'worker') expect(final.lines).toContain('COPY adapters/pas/sql/ adapters/pas/sql/');
    // Production dependencies only, of the apps this image runs.
    const deps = stages[1]?.lines.find((l) => l.includes('npm ci')) ?? '';
    expect(deps).toContain('--omit=dev');
    for (const dir of runs) expect(deps).toContain(`-w ${JSON.parse(source(`${dir}/package.json`)).name}`);
  });

  it('runs the compiled entry point and probes /health/live on the admin listener', () => {
    const cmd = final.lines.find((l) => l.startsWith('CMD ')) as string;
    expect(JSON.parse(cmd.slice(4))).toEqual(['node', `apps/${app}/dist/main.js`]);
    expect(existsSync(join(REPO_ROOT, `apps/${app}/src/main.ts`))).toBe(true);
    const health = final.lines.find((l) => l.startsWith('HEALTHCHECK ')) as string;
    expect(health).toContain('/health/live');
    expect(health).toContain(`|| ${adminPort})`);
    expect(source(`apps/${app}/src/admin.ts`)).toContain("admin.get('/health/live'");
    const schema = app === 'facade' ? facadeSchema : workerSchema;
    const portSetting = app === 'facade' ? 'ADMIN_PORT' : 'WORKER_ADMIN_PORT';
    expect(health).toContain(`process.env.${portSetting}`);
    expect(String((schema.shape as Json)[portSetting].parse(undefined))).toBe(adminPort);
  });
});
