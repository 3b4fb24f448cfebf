import sql, { type ConnectionPool } from 'mssql';
import { DEFAULT_STATUS_MAPPING } from '../appointment-status.js';
import { slotStatusCode } from '../legacy-codes.js';
import { LocalClock } from '../local-time.js';
import {
  type SlotQuery,
  type SlotSearchResult,
  TransientPasError,
} from '../port.js';
import { assembleSearch, CLINIC_SELECT, type RawClinic, type RawSlot, readableSlotRows, withinBounds } from '../row-mapping.js';
import { type PasAdapterOptions, RepositoryPas } from '../repository-pas.js';
import { legacyCode } from '../session.js';
import { mssqlConfig } from './connection.js';
import { isTransientMssqlError } from './errors.js';
import { MssqlDatabase } from './mssql-db.js';
import { bindSlotSearch, slotSearchInput, slotSearchSql } from './slot-search-sql.js';
import { varchar, } from './values.js';

export interface MssqlPasOptions extends PasAdapterOptions {
  /** mssql://user:password@host:1433/database?… or Server=…;Database=…;User Id=…;Password=… */
  connectionString: string;
  /** SET LOCK_TIMEOUT of each write transaction, ms (default 5000): waits surface as error 1222, retried. */
  lockTimeoutMs?: number;
}

/**
 * The SQL Server PAS (also Azure SQL and Babelfish): the legacy tables in the login's default schema
 * (dbo in the reference schema, unqualified), the product's own in "booking". Every transaction is
 * the shared PasRepository's, run over MssqlDatabase (XACT_ABORT, lock timeout, @@TRANCOUNT check,
 * row counts and ids as output parameters); this class connects and searches slots. How each guard
 * holds with READ_COMMITTED_SNAPSHOT on and off: docs/pas.md.
 */
export class MssqlPas extends RepositoryPas {
  readonly kind = 'mssql';

  private constructor(
    readonly pool: ConnectionPool,
    private readonly clock: LocalClock,
    private readonly options: MssqlPasOptions,
  ) {
    super(new MssqlDatabase(pool, options.lockTimeoutMs ?? 5000), clock, options);
  }

  static async connect(options: MssqlPasOptions): Promise<MssqlPas> {
    const clock = new LocalClock(options.timeZone);
    const pool = new sql.ConnectionPool(mssqlConfig(options.connectionString));
    // Errors reach the request that meets them; an unheard 'error' event would end the process.
    pool.on('error', () => undefined);
    await guard(() => pool.connect());
    return new MssqlPas(pool, clock, options);
  }

  async searchSlots(query: SlotQuery): Promise<SlotSearchResult> {
    return guard(async () => {
      const clinics = (
        await this.pool
          .request()
          // DOS_SERVICE_ID bare (a key: an index seek; blank padding and the collation compare it as
          // the booking does), the parameter trimmed; ACTIVE_FLAG as the booking guard reads it.
          .input('serviceId', ...varchar(20, query.serviceId.trim()))
          .query<RawClinic>(`${CLINIC_SELECT} WHERE c.DOS_SERVICE_ID = @serviceId AND ${legacyCode('c.ACTIVE_FLAG')} = 'Y'`)
      ).recordset;
      if (clinics.length === 0) return { serviceKnown: false, ...assembleSearch([], []) };

      const cancelledCodes = (this.options.statusMapping ?? DEFAULT_STATUS_MAPPING).cancelledCodes;
      const search = slotSearchSql(slotSearchInput(query, clinics.map((c) => c.CLINIC_CODE), query.statuses.map(slotStatusCode), this.clock, cancelledCodes));
      const raw = (await bindSlotSearch(this.pool.request(), search.params).query<RawSlot>(search.text)).recordset;
      const slots = readableSlotRows(raw, this.clock, this.options.observer)
        .filter((s) => withinBounds(s, query))
        .slice(0, query.limit);
      return { serviceKnown: true, ...assembleSearch(slots, clinics) };
    });
  }


  async ping(): Promise<void> {
    await guard(() => this.pool.request().query('SELECT 1 AS OK'));
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** Maps transient failures to TransientPasError (the worker retries those); everything else rethrows. */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (isTransientMssqlError(error)) {
      throw new TransientPasError(`SQL Server PAS unavailable for now: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  }
}
