/**
 * Failed logins per client, with exponential back-off: the first `freeFailures` failures cost
 * nothing (people mistype), then each further failure locks the client out for twice as long as
 * the one before (1 s, 2 s, 4 s … up to `maxLockMs`). While locked out, no attempt is even
 * checked, so the password cannot be guessed faster than the back-off allows. A success clears
 * the client's record; records of clients quiet for `forgetAfterMs` are dropped.
 */
export interface LoginThrottleOptions {
  freeFailures: number;
  firstLockMs: number;
  maxLockMs: number;
  forgetAfterMs: number;
  /** Bound on the clients remembered, whatever an attacker does with source addresses. */
  maxClients: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = { freeFailures: 5, firstLockMs: 1000, maxLockMs: 15 * 60 * 1000, forgetAfterMs: 60 * 60 * 1000, maxClients: 10_000 };

interface ClientRecord {
  failures: number;
  lockedUntil: number;
  lastFailure: number;
}

export class LoginThrottle {
  private readonly clients = new Map<string, ClientRecord>();

  constructor(
    private readonly options: LoginThrottleOptions = DEFAULT_LOGIN_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds the client must still wait before its next attempt is checked (0: go ahead). */
  lockedFor(client: string): number {
    const record = this.clients.get(client);
    if (!record) return 0;
    if (this.now() - record.lastFailure > this.options.forgetAfterMs) {
      this.clients.delete(client);
      return 0;
    }
    return Math.max(0, record.lockedUntil - this.now());
  }

  /** Records a failed attempt; returns the failures so far and the lock-out it earned (ms, 0 for none). */
  failed(client: string): { failures: number; lockMs: number } {
    const now = this.now();
    const record = this.clients.get(client) ?? { failures: 0, lockedUntil: 0, lastFailure: now };
    record.failures++;
    record.lastFailure = now;
    const over = record.failures - this.options.freeFailures;
    const lockMs = over > 0 ? Math.min(this.options.maxLockMs, this.options.firstLockMs * 2 ** Math.min(over - 1, 30)) : 0;
    record.lockedUntil = now + lockMs;
    this.clients.delete(client); // re-inserted last: the Map's order is the eviction order
    this.clients.set(client, record);
    if (this.clients.size > this.options.maxClients) this.clients.delete(this.clients.keys().next().value as string);
    return { failures: record.failures, lockMs };
  }

  succeeded(client: string): void {
    this.clients.delete(client);
  }
}
