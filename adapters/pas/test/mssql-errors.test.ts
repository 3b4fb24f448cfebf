import { describe, expect, it } from 'vitest';
import { BABELFISH_UNMAPPED_ERROR, isTransientMssqlError } from '../src/mssql/errors.js';

/**
 * Which SQL Server, Azure SQL and Babelfish failures the worker retries. The errors are shaped as
 * mssql hands them over: a RequestError/ConnectionError/TransactionError with `code`, `number`
 * from the server, and the driver's own error as `originalError`.
 */

const requestError = (number: number, message = `error ${number}`) => Object.assign(new Error(message), { name: 'RequestError', code: 'EREQUEST', number });
const wrapped = (inner: Error, code = 'EREQUEST') => Object.assign(new Error(inner.message), { code, originalError: inner });

describe('isTransientMssqlError', () => {
  it('retries what SQL Server and Azure SQL document as transient', () => {
    for (const n of [1204, 1205, 1222, 4060, 40143, 40197, 40501, 40540, 40613, 10928, 10929, 49918, 49919, 49920]) {
      expect(isTransientMssqlError(requestError(n)), String(n)).toBe(true);
      expect(isTransientMssqlError(wrapped(requestError(n), 'EABORT')), `wrapped ${n}`).toBe(true);
    }
  });

  it('retries lost connections, by number and by driver code', () => {
    for (const n of [233, 64, 10053, 10054, 10060]) expect(isTransientMssqlError(requestError(n)), String(n)).toBe(true);
    for (const code of ['ESOCKET', 'ECONNRESET', 'ETIMEOUT', 'ECONNCLOSED']) {
      expect(isTransientMssqlError(Object.assign(new Error(code), { name: 'ConnectionError', code })), code).toBe(true);
    }
    // A socket reset deep inside a request error, and a connect tried on several addresses.
    expect(isTransientMssqlError(wrapped(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })))).toBe(true);
    const aggregate = new AggregateError([Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' })], 'Failed to connect');
    expect(isTransientMssqlError(Object.assign(new Error('Failed to connect'), { code: 'ESOCKET', originalError: aggregate }))).toBe(true);
  });

  it('retries login errors tedious marks isTransient (Azure SQL failover), but not a wrong password', () => {
    const transientLogin = Object.assign(new Error('Database is not currently available'), { name: 'ConnectionError', code: 'ELOGIN', isTransient: true });
    expect(isTransientMssqlError(Object.assign(new Error(transientLogin.message), { code: 'ELOGIN', originalError: transientLogin }))).toBe(true);
    expect(isTransientMssqlError(Object.assign(new Error("Login failed for user 'booking_worker'."), { code: 'ELOGIN', isTransient: false }))).toBe(false);
  });

  it('retries Babelfish generic errors only where the PostgreSQL message says "try again"', () => {
    for (const message of [
      'could not serialize access due to concurrent update',
      'deadlock detected',
      'canceling statement due to lock timeout',
      'terminating connection due to administrator command',
      'the database system is starting up',
      'remaining connection slots are reserved for non-replication superuser connections',
      'cannot execute UPDATE in a read-only transaction',
    ]) {
      expect(isTransientMssqlError(requestError(BABELFISH_UNMAPPED_ERROR, message)), message).toBe(true);
    }
    expect(isTransientMssqlError(requestError(BABELFISH_UNMAPPED_ERROR, 'relation "clinic_slot" does not exist'))).toBe(false);
    expect(isTransientMssqlError(requestError(BABELFISH_UNMAPPED_ERROR, 'missing FROM-clause entry for table "t2"'))).toBe(false);
    // The message alone, without Babelfish's number, decides nothing.
    expect(isTransientMssqlError(requestError(50000, 'deadlock detected'))).toBe(false);
  });

  it('never retries mistakes that a retry cannot fix', () => {
    expect(isTransientMssqlError(requestError(2627))).toBe(false); // duplicate key
    expect(isTransientMssqlError(requestError(547))).toBe(false); // constraint
    expect(isTransientMssqlError(requestError(208))).toBe(false); // invalid object name
    expect(isTransientMssqlError(requestError(18456))).toBe(false); // login failed
    expect(isTransientMssqlError(new TypeError('Invalid GUID.'))).toBe(false);
    expect(isTransientMssqlError(undefined)).toBe(false);
    const loop: Record<string, unknown> = { code: 'EREQUEST' };
    loop.originalError = loop;
    expect(isTransientMssqlError(loop)).toBe(false);
  });
});
