import { describe, expect, it } from 'vitest';
import { guard } from './bench/report.js';
import { runBench } from './bench/scenarios.js';

/**
 * The benchmark's regression guard inside `npm test`: the quick benchmark (own Redis, SQLite PAS,
 * two workers, a facade, autocannon) at small sizes, judged only by ratios measured in the same run
 * and with wide margins (booking throughput at 64 connections against the bare queue, search over
 * 100,000 slots against 1,000), plus correctness: no 5xx, no unexpected answer, exactly one booking
 * per contended slot, no double booking. No absolute time is asserted, so a loaded CI machine
 * (other test files run alongside) makes it slower, never red.
 */
describe.sequential('benchmark regression guard', () => {
  it('books, searches and resolves contention without gross regressions', { timeout: 300_000 }, async () => {
    const result = await runBench({
      quick: true,
      workers: 2,
      soakSeconds: 0,
      nodeFlags: [],
      // The scenarios the guard judges; the others only lengthen the run.
      only: ['search', 'book-64', 'book-contended'],
      log: () => {},
    });
    expect(result.scenarios.map((s) => s.name)).toEqual(['search-1k', 'search-100k', 'book-64', 'book-contended']);
    expect(guard(result)).toEqual([]);
  });
});
