import type { PasPort } from '../port.js';

export interface MssqlPasOptions {
  connectionString: string;
  timeZone?: string;
}

/** Placeholder until the SQL Server adapter lands. */
export class MssqlPas {
  static async connect(_options: MssqlPasOptions): Promise<PasPort> {
    throw new Error('SQL Server adapter not implemented yet');
  }
}
