export { MssqlPas, type MssqlPasOptions } from './mssql-pas.js';
export { isTransientMssqlError } from './errors.js';
export { mssqlConfig } from './connection.js';
export { createMssqlSchema, seedMssqlDemo, splitBatches } from './schema.js';
export { loadDemoDataMssql } from './demo-data.js';
