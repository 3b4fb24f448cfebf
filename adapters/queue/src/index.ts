export * from './contract.js';
export * from './connection.js';
export * from './sealing.js';
export * from './codec.js';
export * from './clock.js';
