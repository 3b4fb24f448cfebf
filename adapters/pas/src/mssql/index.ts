export { MssqlPas, type MssqlPasOptions } from './mssql-pas.js';
