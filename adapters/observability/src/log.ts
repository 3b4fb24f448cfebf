import { trace } from '@opentelemetry/api';
import type { LoggerOptions } from 'pino';

/**
 * pino options both processes share: the active trace and span
 * ids on every line, so a log line leads to its trace, and a safety net that blanks fields which
 * could carry a token or patient demographics should anyone ever log them by mistake.
 */
export const logOptions: Pick<LoggerOptions, 'mixin' | 'redact'> = {
  mixin() {
    // Without a started SDK there is no active span: the mixin adds nothing.
    const span = trace.getActiveSpan();
    if (!span) return {};
    const { traceId, spanId } = span.spanContext();
    return { traceId, spanId };
  },
  redact: {
    paths: ['authorization', '*.authorization', 'headers', '*.headers', 'body', '*.body', 'appointment', '*.appointment', 'resource', '*.resource', 'patient', '*.patient'],
    censor: '[redacted]',
  },
};
