/**
 * Readiness answers are unauthenticated (kubelet and Docker probes carry no secrets), so a failed
 * check says only what kind of failure it was: a driver's error message names the server, its
 * port, the login or the Redis ACL user. The detail goes to the log, once per change of state, as
 * probes ask every few seconds.
 */

/** An error code or Redis reply class (ECONNREFUSED, ELOGIN, NOPERM, OOM …), `timeout`, or `error`: never the message. */
export function failureClass(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,31}$/.test(code)) return code;
  const message = error instanceof Error ? error.message : String(error);
  // Redis replies start with their class in capitals: "NOPERM User booking has no permissions …".
  const redisClass = /^([A-Z][A-Z0-9]{2,19})\b/.exec(message)?.[1];
  if (redisClass && message.length > redisClass.length && message[redisClass.length] === ' ') return redisClass;
  if (/timed? ?out|no answer within/i.test(message)) return 'timeout';
  return 'error';
}

/** The readiness check of the booking queue, facade and worker alike: a queue paused on the dashboard takes no job. */
export function queueCheck(paused: boolean): string {
  return paused ? 'paused: no job is taken until it is resumed on the queue dashboard' : 'ok';
}

/** What readiness asks of the queue's clock (QueueClock in @booking/queue). */
export interface MeasuredClock {
  readonly isMeasured: boolean;
  readonly lastError: Error | undefined;
}

/**
 * The readiness check of the queue's clock (Redis's, read with TIME), facade and worker alike: until
 * it is measured no job is stamped or taken, so every booking would fail. An ACL without TIME says
 * NOPERM, and the answer names the rule to add (not the user).
 */
export function clockCheck(clock: MeasuredClock): string {
  if (clock.isMeasured) return 'ok';
  if (!clock.lastError) return 'not measured yet';
  const kind = failureClass(clock.lastError);
  return `not measured: ${kind === 'NOPERM' ? 'NOPERM (the Redis user needs the ACL rule +time)' : kind}`;
}

export interface ReadinessLogger {
  warn(obj: object, msg: string): void;
}

/**
 * Logs a readiness check at warn when its answer changes (failing with the error's full message,
 * or recovered), not at every probe.
 */
export function readinessLog(logger: ReadinessLogger | undefined) {
  const last = new Map<string, string>();
  return (check: string, status: string, error?: unknown): void => {
    const state = status.startsWith('ok') ? 'ok' : status; // "ok (3)" → "ok (2)" is no change
    const was = last.get(check);
    last.set(check, state);
    if (was === state || (was === undefined && state === 'ok')) return;
    const err = error === undefined ? undefined : (error instanceof Error ? error.message : String(error)).slice(0, 500);
    logger?.warn({ check, status, was: was ?? null, ...(err ? { err } : {}) }, state === 'ok' ? 'readiness check recovered' : 'readiness check failing');
  };
}
