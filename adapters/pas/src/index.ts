export * from './port.js';
export * from './demo-data.js';
export { LocalClock } from './local-time.js';
export * from './consistency.js';
