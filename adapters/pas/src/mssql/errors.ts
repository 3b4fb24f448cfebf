/**
 * Which SQL Server errors are worth retrying: the one place that knows. The worker retries a
 * transient failure within its budget (apps/worker/src/retry.ts); a write is safe to repeat
 * because the transaction either committed (and its X-Request-ID is then found) or rolled back.
 *
 * Sources: SQL Server's deadlock/lock errors; Azure SQL's documented transient errors (database
 * moving, reconfiguring, throttled, failing over); the client's own lost-connection numbers;
 * tedious marking a login error `isTransient`; mssql's connection error codes. Babelfish maps a
 * PostgreSQL error to a SQL Server number where it has one (deadlock → 1205, lock timeout → 1222)
 * and reports the rest under one generic number (33557097) with PostgreSQL's message, so there the
 * message decides.
 */

/** Error numbers SQL Server or Azure SQL documents as "try again". */
export const TRANSIENT_ERROR_NUMBERS: ReadonlySet<number> = new Set([
  1204, // the instance ran out of locks
  1205, // deadlock victim
  1222, // lock request timeout (SET LOCK_TIMEOUT)
  3906, // database is read-only: an old primary during an AG or failover-group switch (as Babelfish's read-only message below)
  4060, // cannot open database (Azure SQL: database moving or failing over)
  4221, // login to a read-secondary failed: replica still starting (Azure SQL)
  40143, // the service encountered an error processing the request (Azure SQL)
  40197, // the service is reconfiguring (Azure SQL: upgrade, failover)
  40501, // the service is busy (Azure SQL throttling)
  40540, // the service encountered an error processing the request (Azure SQL)
  40613, // database not currently available (Azure SQL)
  10928, // resource limit reached (Azure SQL: workers, sessions)
  10929, // minimum guarantee not met (Azure SQL: resource governance)
  49918, // not enough resources to process the request (Azure SQL)
  49919, // too many create or update operations in progress (Azure SQL)
  49920, // too many operations in progress (Azure SQL)
  233, // no process on the other end of the pipe (connection lost)
  64, // the specified network name is no longer available (connection lost)
  10053, // the connection was aborted by the host (connection lost)
  10054, // the connection was reset by the peer (connection lost)
  10060, // connection attempt timed out (connection lost)
]);

/** mssql's connection-level codes, and the socket's own codes it wraps. */
export const TRANSIENT_ERROR_CODES: ReadonlySet<string> = new Set(['ESOCKET', 'ECONNRESET', 'ETIMEOUT', 'ECONNCLOSED', 'ETIMEDOUT', 'EPIPE']);

/** Babelfish's number for a PostgreSQL error it has no SQL Server number for. */
export const BABELFISH_UNMAPPED_ERROR = 33557097;

/**
 * PostgreSQL messages (under Babelfish's generic number) that mean "try again": serialization
 * failure, deadlock, lock timeout, a server restarting or failing over, no free connection slot.
 */
const BABELFISH_TRANSIENT_MESSAGES = [
  /could not serialize access/i,
  /deadlock detected/i,
  /lock timeout/i,
  /could not obtain lock/i,
  /terminating connection due to (administrator command|conflict with recovery)/i,
  /canceling statement due to conflict with recovery/i,
  /the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)/i,
  /remaining connection slots are reserved|too many clients already/i,
  /cannot execute \w+ in a read-only transaction/i, // a writer that became a reader in a failover (SQL Server: 3906)
];

/** The error and every error wrapped inside it (mssql keeps the driver's as originalError). */
export function errorChain(error: unknown): Record<string, unknown>[] {
  const chain: Record<string, unknown>[] = [];
  const pending: unknown[] = [error];
  while (pending.length > 0 && chain.length < 12) {
    const e = pending.shift();
    if (!e || typeof e !== 'object' || chain.includes(e as Record<string, unknown>)) continue;
    const current = e as Record<string, unknown>;
    chain.push(current);
    pending.push(current.originalError, current.cause);
    // tedious reports a connection tried on several addresses as an AggregateError.
    if (Array.isArray(current.errors)) pending.push(...current.errors);
  }
  return chain;
}

/** Every SQL Server error number in the chain. */
export function errorNumbers(error: unknown): number[] {
  return errorChain(error)
    .map((e) => e.number)
    .filter((n): n is number => typeof n === 'number');
}

function transientOne(e: Record<string, unknown>): boolean {
  if (typeof e.number === 'number' && TRANSIENT_ERROR_NUMBERS.has(e.number)) return true;
  if (typeof e.code === 'string' && TRANSIENT_ERROR_CODES.has(e.code)) return true;
  // tedious sets isTransient on login errors the server marks as retryable (Azure SQL failover).
  if (e.isTransient === true) return true;
  if (e.number === BABELFISH_UNMAPPED_ERROR && typeof e.message === 'string') return BABELFISH_TRANSIENT_MESSAGES.some((m) => m.test(e.message as string));
  return false;
}

/** True when the failure is one a later attempt may well not meet. */
export function isTransientMssqlError(error: unknown): boolean {
  return errorChain(error).some(transientOne);
}
