import { type PasPort, TransientPasError, WriteDeadlinePassedError } from '@booking/pas';
import { describe, expect, it } from 'vitest';
import { instrumentPas } from '../src/instrumented-pas.js';
import { createWorkerMetrics } from '../src/observability/metrics.js';

/** booking_pas_errors_total's `transient` label: what on-call is paged for (transient="false") must be a PAS that is broken, not slow. */
describe('instrumentPas counts PAS failures by whether a person must fix them', () => {
  const failingWith = (error: Error) => ({ kind: 'test', book: async () => Promise.reject(error) }) as unknown as PasPort;
  const errors = async (metrics: ReturnType<typeof createWorkerMetrics>, transient: string) => {
    const series = (await metrics.registry.getSingleMetricAsString('booking_pas_errors_total')).split('\n');
    return Number(series.find((line) => line.startsWith(`booking_pas_errors_total{operation="book",transient="${transient}"}`))?.split(' ')[1]);
  };

  it('a lock timeout and a write that reached its deadline while waiting are transient; a missing column is not', async () => {
    const metrics = createWorkerMetrics();
    expect(await errors(metrics, 'true')).toBe(0); // zero from the start, so increase() sees the first one
    expect(await errors(metrics, 'false')).toBe(0);
    for (const error of [new TransientPasError('lock timeout'), new WriteDeadlinePassedError(Date.now())]) {
      await expect(instrumentPas(failingWith(error), metrics, false).book({} as never)).rejects.toBe(error);
    }
    await expect(instrumentPas(failingWith(new Error("Invalid column name 'PAS_PATIENT_ID'.")), metrics, false).book({} as never)).rejects.toThrow();
    expect(await errors(metrics, 'true')).toBe(2);
    expect(await errors(metrics, 'false')).toBe(1);
  });
});
