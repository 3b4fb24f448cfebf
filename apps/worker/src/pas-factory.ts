import { ConfigError } from '@booking/config';
import type { PasObserver, PasPort } from '@booking/pas';
import type { WorkerConfig } from './config.js';

/** Opens the configured PAS adapter. SQL Server is loaded only when it is the one configured. */
export async function openPas(config: WorkerConfig, observer?: PasObserver): Promise<PasPort> {
  const common = {
    timeZone: config.PAS_TIMEZONE,
    statusMapping: config.statusMapping,
    localPatientIdSystem: config.LOCAL_PATIENT_ID_SYSTEM,
    hospitalNumber: { prefix: config.PAS_TEMP_HOSPITAL_NUMBER_PREFIX, width: config.PAS_TEMP_HOSPITAL_NUMBER_WIDTH },
    ...(observer ? { observer } : {}),
  };
  if (config.PAS_ADAPTER === 'mssql') {
    const { MssqlPas } = await import('@booking/pas/mssql');
    return MssqlPas.connect({ ...common, connectionString: config.PAS_MSSQL_URL as string, lockTimeoutMs: config.PAS_MSSQL_LOCK_TIMEOUT_MS });
  }
  const { SqlitePas } = await import('@booking/pas/sqlite');
  try {
    return new SqlitePas({ ...common, path: config.PAS_SQLITE_PATH, busyTimeoutMs: config.PAS_SQLITE_BUSY_TIMEOUT_MS });
  } catch (error) {
    // A missing directory, no write access, not a database: the path setting is what to fix.
    throw new ConfigError(`PAS_SQLITE_PATH: cannot open ${config.PAS_SQLITE_PATH} as a SQLite PAS (${(error as Error).message})`);
  }
}
