export * from './tracing.js';
export * from './log.js';
export * from './health.js';
