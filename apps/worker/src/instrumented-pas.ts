import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { type PasPort, TransientPasError, WriteDeadlinePassedError } from '@booking/pas';
import type { WorkerMetrics } from './observability/metrics.js';

/**
 * A PasPort that times every call (booking_pas_duration_seconds), counts the ones that throw, and,
 * when tracing is on, wraps each in a client span that becomes a child of the job's span. Adapters
 * stay untouched. Pings (readiness probes) are timed but not traced: they belong to no request.
 */
export function instrumentPas<P extends PasPort>(pas: P, metrics: WorkerMetrics, tracing: boolean): P {
  const tracer = trace.getTracer('booking-worker');

  async function call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const timed = async (span?: Span) => {
      const started = performance.now();
      try {
        const result = await run();
        metrics.pasCall(operation, (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        // A write that reached its deadline while waiting (locks, a slow PAS) is the PAS being slow,
        // not broken: it counts with the transient failures, not with those a person must fix.
        const transient = error instanceof TransientPasError || error instanceof WriteDeadlinePassedError;
        metrics.pasCall(operation, (performance.now() - started) / 1000, error, transient);
        span?.recordException(error as Error);
        span?.setStatus({ code: SpanStatusCode.ERROR, message: transient ? 'transient PAS failure' : 'PAS failure' });
        throw error;
      } finally {
        span?.end();
      }
    };
    if (!tracing || operation === 'ping') return timed();
    return tracer.startActiveSpan(`pas.${operation}`, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': pas.kind, 'db.operation.name': operation } }, timed);
  }

  // A proxy rather than a method-by-method copy: an operation added to the port later is measured
  // too, instead of silently bypassing the decorator.
  return new Proxy(pas, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'close' || typeof property !== 'string') return value;
      return (...args: unknown[]) => call(property, () => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
}
