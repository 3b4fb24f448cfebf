import { context, propagation, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import type { AppEnv } from '../env.js';
import { requestHeader, requestHeaders } from '../request-headers.js';
import type { FacadeMetrics } from './metrics.js';

export interface RequestObservability {
  logger: Logger;
  metrics: FacadeMetrics;
  /** True when the tracing SDK is started; otherwise no span is made at all. */
  tracing: boolean;
}

/** Header values are the consumer's: cap them so a hostile one cannot flood the logs. */
const capped = (value: string | undefined, max: number) => (value === undefined ? undefined : value.slice(0, max));

/**
 * One middleware per consumer request, mounted just inside requestIds: a child logger carrying the
 * request's ids (ours, the consumer's X-Request-ID as correlationId, Ssp-TraceID) for every line
 * logged while answering it, one summary line at the end, the HTTP metrics, and the server span
 * whose context the queue carries on to the worker. Headers other than these ids, tokens and
 * bodies are never logged: bodies hold patient demographics.
 */
export function observeRequests(deps: RequestObservability) {
  const tracer = trace.getTracer('booking-facade');
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = performance.now();
    const ids = {
      requestId: c.get('requestId'),
      correlationId: capped(requestHeader(c, 'X-Request-ID'), 200),
      sspTraceId: capped(requestHeader(c, 'Ssp-TraceID'), 100),
    };

    const handle = async (span?: Span) => {
      // Created inside the span so the mixin puts its traceId on every line of the request.
      const log = deps.logger.child(ids);
      c.set('log', log);
      try {
        await next();
      } finally {
        const interaction = c.get('interaction')?.name ?? 'none';
        const status = c.res.status;
        const seconds = (performance.now() - started) / 1000;
        deps.metrics.request(interaction, status, seconds);
        const jobFailure = c.get('jobFailure');
        if (jobFailure) deps.metrics.jobFailure(interaction, jobFailure);
        if (span) {
          span.updateName(`${c.req.method} ${interaction}`);
          span.setAttributes({ 'http.route': interaction, 'http.response.status_code': status });
          if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        }
        // A refusal's code, and its reason or the elements at fault (problem-error.ts refusalOf: no values sent).
        log[status >= 500 ? 'error' : 'info']({ method: c.req.method, interaction, status, ms: Math.round(seconds * 1000), ...c.get('refusal') }, 'request');
      }
    };

    if (!deps.tracing) return handle();
    // W3C traceparent from a trust's ingress or the SSP, when present, makes this span its child.
    const parent = propagation.extract(context.active(), requestHeaders(c));
    return tracer.startActiveSpan(
      `${c.req.method}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': c.req.method,
          'url.path': c.req.path,
          'booking.request_id': ids.requestId,
          ...(ids.correlationId ? { 'booking.correlation_id': ids.correlationId } : {}),
          ...(ids.sspTraceId ? { 'ssp.trace_id': ids.sspTraceId } : {}),
        },
      },
      parent,
      async (span) => {
        try {
          await handle(span);
        } finally {
          span.end();
        }
      },
    );
  });
}
