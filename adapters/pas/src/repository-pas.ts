import type { StatusMapping } from './appointment-status.js';
import type { LocalClock } from './local-time.js';
import type {
  AppointmentQuery,
  AppointmentVersion,
  BookCommand,
  BookResult,
  CancelCommand,
  CancelResult,
  PasObserver,
  PasPort,
  ReconcileQuery,
  ReconcileResult,
  ReplayedWrite,
  SlotQuery,
  SlotSearchResult,
  WriteContext,
} from './port.js';
import type { PasDatabase } from './session.js';
import { type HospitalNumberFormat, PasRepository, type RepositoryOptions } from './transactions/repository.js';
import { probeSchema } from './transactions/schema-probe.js';

/** The options every adapter takes for the shared transactions. */
export interface PasAdapterOptions {
  timeZone?: string;
  /** Legacy APPT_STATUS codes → FHIR (default: the reference codes). */
  statusMapping?: StatusMapping;
  observer?: PasObserver;
  /** Temporary hospital number format (default T + 9 digits). */
  hospitalNumber?: HospitalNumberFormat;
  /** The identifier system of the hospital number on the contained Patient. */
  localPatientIdSystem?: string;
}

/**
 * What both adapters share: every transaction is the PasRepository's, written once over the
 * adapter's session. An adapter adds only connecting, the slot search, ping and close.
 */
export abstract class RepositoryPas implements PasPort {
  abstract readonly kind: string;
  protected readonly repository: PasRepository;

  protected constructor(
    private readonly pasDatabase: PasDatabase,
    clock: LocalClock,
    options: PasAdapterOptions,
  ) {
    const repositoryOptions: RepositoryOptions = { clock };
    if (options.statusMapping) repositoryOptions.statusMapping = options.statusMapping;
    if (options.observer) repositoryOptions.observer = options.observer;
    if (options.hospitalNumber) repositoryOptions.hospitalNumber = options.hospitalNumber;
    if (options.localPatientIdSystem) repositoryOptions.localPatientIdSystem = options.localPatientIdSystem;
    this.repository = new PasRepository(pasDatabase, repositoryOptions);
  }

  abstract searchSlots(query: SlotQuery): Promise<SlotSearchResult>;
  abstract ping(): Promise<void>;
  abstract close(): Promise<void>;

  book(cmd: BookCommand): Promise<BookResult> {
    return this.repository.book(cmd);
  }

  searchAppointments(query: AppointmentQuery): Promise<AppointmentVersion[]> {
    return this.repository.searchAppointments(query);
  }

  readAppointment(appointmentId: string, versionId?: string): Promise<AppointmentVersion | null> {
    return this.repository.readAppointment(appointmentId, versionId);
  }

  cancel(cmd: CancelCommand): Promise<CancelResult> {
    return this.repository.cancel(cmd);
  }

  reconcile(query: ReconcileQuery): Promise<ReconcileResult> {
    return this.repository.reconcile(query);
  }

  findWrite(ctx: WriteContext): Promise<ReplayedWrite | null> {
    return this.repository.findWrite(ctx);
  }

  checkSchema(): Promise<string[]> {
    return probeSchema(this.pasDatabase);
  }
}
