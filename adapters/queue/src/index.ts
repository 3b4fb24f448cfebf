export * from './contract.js';
export * from './connection.js';
