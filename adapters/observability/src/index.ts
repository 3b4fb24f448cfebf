export * from './tracing.js';
export * from './log.js';
