import { type Context, SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, type Sampler, SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { BullMQOtel } from 'bullmq-otel';

/**
 * OpenTelemetry tracing, started only when an OTLP endpoint is configured: without one no SDK is
 * registered, the API stays a no-op and BullMQ gets no telemetry option, so it costs nothing.
 */
export interface Tracing {
  /** For BullMQ Queue/Worker options: carries the trace context inside each job. */
  telemetry: BullMQOtel;
  /** Flushes the spans still buffered; call before exit. */
  shutdown(): Promise<void>;
}

/**
 * Root spans are kept except BullMQ's internal housekeeping (a getNextJob span per blocking poll,
 * stalled-job checks …), which would bury the bookings; children follow their parent's decision.
 */
const rootSampler: Sampler = {
  shouldSample: (_context: Context, _traceId: string, _name: string, kind: SpanKind) => ({
    decision: kind === SpanKind.INTERNAL ? SamplingDecision.NOT_RECORD : SamplingDecision.RECORD_AND_SAMPLED,
  }),
  toString: () => 'DropInternalRoots',
};

export function startTracing(serviceName: string, endpoint: string | undefined, version?: string): Tracing | undefined {
  if (!endpoint) return undefined;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName, ...(version ? { 'service.version': version } : {}) }),
    sampler: new ParentBasedSampler({ root: rootSampler }),
    // OTLP over HTTP with JSON bodies; OTEL_EXPORTER_OTLP_HEADERS and OTEL_BSP_* still apply.
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` }))],
  });
  // Registers the AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  return { telemetry: new BullMQOtel('booking'), shutdown: () => provider.shutdown() };
}
