import pino from 'pino';
import { logOptions } from '@booking/observability';

/** Structured JSON logs. Job payloads are never logged: they can carry patient data. */
export function createLogger(level: string) {
  return pino({ level, base: { service: 'worker', pid: process.pid }, ...logOptions });
}
export type Logger = ReturnType<typeof createLogger>;
