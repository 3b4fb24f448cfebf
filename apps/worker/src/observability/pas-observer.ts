import type { PasObserver } from '@booking/pas';
import type { Logger } from '../logger.js';
import type { WorkerMetrics } from './metrics.js';

/**
 * What the adapter reports about the PAS as the truth: each PAS-side change is counted (and logged
 * at debug), each legacy code with no mapping is counted every time and logged once per code (a
 * warning with what to do), so a busy PAS with one unmapped code does not flood the logs.
 */
export function createPasObserver(metrics: Pick<WorkerMetrics, 'pasObserver'>, logger: Logger): PasObserver {
  const warned = new Set<string>();
  return {
    pasChange(kinds, via) {
      metrics.pasObserver.pasChange(kinds, via);
      logger.debug({ kinds, via }, 'PAS-side change recorded as a new appointment version');
    },
    unknownCode(column, code) {
      metrics.pasObserver.unknownCode(column, code);
      const key = `${column}=${code}`;
      if (warned.has(key) || warned.size >= 100) return;
      warned.add(key);
      logger.warn({ column, code: code.slice(0, 16) }, 'legacy code with no mapping read in its safe way (add it to PAS_APPOINTMENT_STATUS_MAP); logged once per code, counted in booking_pas_unknown_codes_total');
    },
    unreadableRow(table, id, reason) {
      metrics.pasObserver.unreadableRow(table, id, reason);
      const key = `${table}=${id}`;
      if (warned.has(key) || warned.size >= 100) return;
      warned.add(key);
      logger.warn({ table, id, reason }, 'legacy row left out because it cannot be read (correct it on the PAS); logged once per row, counted in booking_pas_unreadable_rows_total');
    },
  };
}
