import { TransientPasError } from '@booking/pas';
import { describe, expect, it } from 'vitest';
import { withPasRetries } from '../src/retry.js';

describe('withPasRetries', () => {
  it('retries transient PAS failures (deadlock victims, busy files) up to the cap', async () => {
    let calls = 0;
    const result = await withPasRetries(3, async () => {
      calls++;
      if (calls < 3) throw new TransientPasError('deadlock victim (1205)');
      return 'booked';
    });
    expect(result).toBe('booked');
    expect(calls).toBe(3);
  });

  it('gives up after the cap with the last transient error', async () => {
    let calls = 0;
    await expect(
      withPasRetries(2, async () => {
        calls++;
        throw new TransientPasError('lock timeout (1222)');
      }),
    ).rejects.toThrow(/1222/);
    expect(calls).toBe(3);
  });

  it('never retries other errors', async () => {
    let calls = 0;
    await expect(
      withPasRetries(5, async () => {
        calls++;
        throw new Error('syntax error');
      }),
    ).rejects.toThrow(/syntax/);
    expect(calls).toBe(1);
  });
});
