export { SqlitePas, createSqliteSchema, type SqlitePasOptions } from './sqlite-pas.js';
export { loadDemoDataSqlite } from './demo-data.js';
