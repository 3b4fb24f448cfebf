import type { PasObserver, PasPort } from '@booking/pas';
import type { WorkerConfig } from './config.js';

/**
 * Opens the configured PAS adapter. SQL Server is loaded only when it is the one configured.
 * The observer (metrics) hears of PAS-side changes and unknown legacy codes.
 */
export async function openPas(config: WorkerConfig, observer?: PasObserver): Promise<PasPort> {
  const observed = observer ? { observer } : {};
  if (config.PAS_ADAPTER === 'mssql') {
    const { MssqlPas } = await import('@booking/pas/mssql');
    return MssqlPas.connect({ connectionString: config.PAS_MSSQL_URL as string, timeZone: config.PAS_TIMEZONE, ...observed });
  }
  const { SqlitePas } = await import('@booking/pas/sqlite');
  return new SqlitePas({ path: config.PAS_SQLITE_PATH, timeZone: config.PAS_TIMEZONE, busyTimeoutMs: config.PAS_SQLITE_BUSY_TIMEOUT_MS, ...observed });
}
