import { describe, expect, it } from 'vitest';
import { correctness } from './bench/report.js';
import { runBench } from './bench/scenarios.js';

/**
 * The benchmark's correctness checks inside `npm test`: the quick benchmark (own Redis, SQLite PAS,
 * two workers, a facade, autocannon) at small sizes, judged on correctness only: no 5xx, no
 * unexpected answer, exactly one booking per contended slot, no double booking. Its speed ratios
 * (booking throughput against the bare queue, search over 100,000 slots against 1,000) are judged
 * by `npm run bench` alone: a loaded CI machine makes this test slower, never red.
 */
describe.sequential('benchmark correctness under load', () => {
  it('books, searches and resolves contention with no 5xx and no double booking', { timeout: 300_000 }, async () => {
    const result = await runBench({
      quick: true,
      workers: 2,
      soakSeconds: 0,
      nodeFlags: [],
      only: ['search', 'book-64', 'book-contended'],
      log: () => {},
    });
    expect(result.scenarios.map((s) => s.name)).toEqual(['search-1k', 'search-100k', 'book-64', 'book-contended']);
    expect(correctness(result)).toEqual([]);
  });
});
