import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createWorkerMetrics } from '../src/observability/metrics.js';
import { createPasObserver } from '../src/observability/pas-observer.js';

describe('the PAS observer', () => {
  it('logs an unreadable legacy row once with its table and id (no patient data) and counts every time it is met', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const metrics = createWorkerMetrics();
    const observer = createPasObserver(metrics, pino({ level: 'info' }, sink));
    const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
    observer.unreadableRow('APPOINTMENT', id, 'invalid PAS datetime "2026-02-30 09:00:00"');
    observer.unreadableRow('APPOINTMENT', id, 'invalid PAS datetime "2026-02-30 09:00:00"');
    observer.unreadableRow('CLINIC_SLOT', '1234', 'invalid PAS datetime "2026-13-01 09:00:00"');
    expect(lines.map((l) => [l.table, l.id, l.reason])).toEqual([
      ['APPOINTMENT', id, 'invalid PAS datetime "2026-02-30 09:00:00"'],
      ['CLINIC_SLOT', '1234', 'invalid PAS datetime "2026-13-01 09:00:00"'],
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('booking_pas_unreadable_rows_total{table="APPOINTMENT"} 2');
    expect(text).toContain('booking_pas_unreadable_rows_total{table="CLINIC_SLOT"} 1');
  });
});
