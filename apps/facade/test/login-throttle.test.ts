import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../src/security/login-throttle.js';

describe('LoginThrottle (failed dashboard logins per client)', () => {
  const options = { freeFailures: 3, firstLockMs: 1000, maxLockMs: 8000, forgetAfterMs: 60_000, maxClients: 2 };

  it('lets a few mistakes pass, then locks the client out for twice as long after each further failure, up to the cap', () => {
    let now = 0;
    const throttle = new LoginThrottle(options, () => now);
    expect([1, 2, 3].map(() => throttle.failed('a').lockMs)).toEqual([0, 0, 0]);
    expect(throttle.lockedFor('a')).toBe(0);
    const locks = [];
    for (let i = 0; i < 6; i++) {
      const { lockMs } = throttle.failed('a');
      locks.push(lockMs);
      expect(throttle.lockedFor('a')).toBe(lockMs);
      now += lockMs;
    }
    expect(locks).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(throttle.lockedFor('b')).toBe(0); // per client
  });

  it('forgets a client on success and after a quiet spell, and remembers a bounded number of clients', () => {
    let now = 0;
    const throttle = new LoginThrottle(options, () => now);
    for (let i = 0; i < 4; i++) throttle.failed('a');
    expect(throttle.lockedFor('a')).toBeGreaterThan(0);
    throttle.succeeded('a');
    expect(throttle.lockedFor('a')).toBe(0);
    for (let i = 0; i < 4; i++) throttle.failed('a');
    now += 61_000;
    expect(throttle.lockedFor('a')).toBe(0);
    expect(throttle.failed('a').failures).toBe(1);
    throttle.failed('b');
    throttle.failed('c'); // a is evicted: the oldest
    expect(throttle.failed('a').failures).toBe(1);
  });
});
