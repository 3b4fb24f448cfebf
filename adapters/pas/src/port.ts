/**
 * The PAS port: the few operations the worker needs from a trust's Patient Administration System.
 *
 * Adapters (SQLite demo PAS, SQL Server) hide every legacy quirk behind it: CHAR padding, one-letter
 * status codes, local (Europe/London) datetimes. Everything crossing this port is plain domain data:
 * instants are ISO-8601 UTC strings, statuses are FHIR codes, ids are trimmed strings.
 */

/** FHIR Slot.status values; every one of them is searchable. */
export const SLOT_STATUSES = ['free', 'busy', 'busy-unavailable', 'busy-tentative', 'entered-in-error'] as const;
export type SlotStatus = (typeof SLOT_STATUSES)[number];

export type DeliveryChannel = 'In-person' | 'Telephone' | 'Video';

export interface SlotQuery {
  /** Directory (DoS) service id, the HealthcareService logical id. */
  serviceId: string;
  /** Empty = every status. */
  statuses: SlotStatus[];
  /** Inclusive/exclusive bounds on Slot.start, as UTC instants. */
  startFrom?: { instant: string; inclusive: boolean };
  startTo?: { instant: string; inclusive: boolean };
  /** Upper bound on the number of slots returned (ordered by start). */
  limit: number;
}

export interface SlotRow {
  slotId: string;
  /** RFC 4122 UUID, lower case: the Slot.identifier. */
  slotGuid: string;
  scheduleId: string;
  start: string;
  end: string;
  status: SlotStatus;
  deliveryChannel?: DeliveryChannel;
}

export interface ScheduleRow {
  scheduleId: string;
  name: string;
  serviceId: string;
  practitionerId?: string;
  practitionerRoleId?: string;
  locationId?: string;
}

export interface HealthcareServiceRow {
  serviceId: string;
  name: string;
  organizationId?: string;
  locationId?: string;
}

export interface PractitionerRow {
  practitionerId: string;
  title?: string;
  given?: string;
  family: string;
  sdsUserId?: string;
  sdsRoleProfileId?: string;
}

export interface PractitionerRoleRow {
  roleId: string;
  practitionerId: string;
  organizationId?: string;
  jobRoleCode?: string;
  jobRoleName?: string;
}

export interface AddressRow {
  lines: string[];
  city?: string;
  postalCode?: string;
}

export interface LocationRow {
  locationId: string;
  name: string;
  organizationId?: string;
  phone?: string;
  address?: AddressRow;
}

export interface OrganizationRow {
  organizationId: string;
  name: string;
  phone?: string;
  address?: AddressRow;
}

export interface SlotSearchResult {
  /** False when the PAS knows no clinic for the service. */
  serviceKnown: boolean;
  /** Matching slots ordered by start, at most `limit`. */
  slots: SlotRow[];
  /** Everything the returned slots point at, each once. */
  schedules: ScheduleRow[];
  services: HealthcareServiceRow[];
  practitioners: PractitionerRow[];
  practitionerRoles: PractitionerRoleRow[];
  locations: LocationRow[];
  organizations: OrganizationRow[];
}

/** The patient as the PAS stores it for an appointment (no NHS number = temporary registration). */
export interface PatientDetails {
  nhsNumber?: string;
  nhsNumberStatus?: string;
  title?: string;
  given?: string;
  family: string;
  /** FHIR administrative gender. */
  gender: 'male' | 'female' | 'other' | 'unknown';
  birthDate: string;
  addressLines: string[];
  postalCode?: string;
  phone?: string;
}

/** One stored version of a FHIR Appointment, exactly as the product wrote it. */
export interface AppointmentVersion {
  appointmentId: string;
  versionId: string;
  /** ISO-8601 UTC instant, meta.lastUpdated. */
  lastUpdated: string;
  status: string;
  /** The full Appointment JSON of this version. */
  resource: Record<string, unknown>;
  /** Whether this is the current version. */
  current: boolean;
}

/** Idempotency context of a write: the consumer's X-Request-ID and the queue job executing it. */
export interface WriteContext {
  requestId: string;
  /** Lets a re-executed job recognise its own earlier, committed attempt. */
  jobId: string;
}

/**
 * When a write may still happen. Soon after `deadline` (epoch ms) the consumer is answered "outcome
 * unknown" and may book elsewhere under a new X-Request-ID, so the caller sets it early enough for
 * the COMMIT's round trip and its clock's error (the worker: the job's deadline less a margin, on
 * Redis's clock, which `now` reads). The transaction checks it once it has begun (a wait for the connection or a lock can
 * be long) and again before COMMIT, and rolls back with WriteDeadlinePassedError. Absent: no
 * deadline (tools, demos, tests).
 */
export interface WriteDeadline {
  deadline?: number;
  /** The clock `deadline` is read on (the worker: Redis's, shared with the facade); Date.now when absent. */
  now?: () => number;
}

export interface AppointmentQuery {
  nhsNumber?: string;
  appointmentId?: string;
  /** "Now" for leaving out appointments that have ended (ISO instant). */
  endedBefore: string;
  limit: number;
}

export interface BookCommand extends WriteContext, WriteDeadline {
  appointmentId: string;
  /** The slot: found by its identifier (UUID) when given, else by its logical id; both must agree. */
  slotGuid?: string;
  slotId?: string;
  start: string;
  end: string;
  reason: string;
  patient: PatientDetails;
  lastUpdated: string;
  /**
   * Builds version 1 of the Appointment inside the transaction, once the PAS has given the patient
   * its local number (the product must add a local identifier when no NHS number was sent).
   */
  buildResource(localPatientNumber: string): Record<string, unknown>;
}

/** What happened to an earlier write with the same X-Request-ID. */
export interface ReplayedWrite {
  outcome: 'replayed';
  /** True when the same job wrote it (a re-executed job): return the original outcome. */
  sameJob: boolean;
  appointmentId: string;
  version: AppointmentVersion;
}

export type BookResult =
  | { outcome: 'booked'; version: AppointmentVersion }
  | { outcome: 'slot-not-found' }
  | { outcome: 'slot-unavailable' }
  /** The appointment's times do not lie within the slot, or the slot identifier does not match. */
  | { outcome: 'slot-mismatch'; reason: string }
  | ReplayedWrite;

export interface CancelCommand extends WriteContext, WriteDeadline {
  appointmentId: string;
  /** The version the consumer read (If-Match); the cancel only applies on top of it. */
  expectedVersionId: string;
  lastUpdated: string;
  /** The next version of the Appointment, status cancelled. */
  resource: Record<string, unknown>;
}

export type CancelResult =
  | { outcome: 'cancelled'; version: AppointmentVersion }
  | { outcome: 'not-found' }
  | { outcome: 'version-conflict'; currentVersionId: string }
  /**
   * The appointment is in a final state (cancelled, attended, did not attend) on either side, or
   * has begun (`started`: its start, which has passed; what happened is the clinic's to record).
   */
  | { outcome: 'invalid-state'; status: string; started?: string }
  | ReplayedWrite;

/** What a PAS-side change touched, compared with the product's current version. */
export type PasChangeKind = 'status' | 'time' | 'slot' | 'patient';

/** Hooks the worker uses for logs and metrics; adapters call them, never await them. */
export interface PasObserver {
  /** A PAS-side change was found and recorded as a new version. */
  pasChange(kinds: PasChangeKind[], via: 'read' | 'search' | 'cancel' | 'reconcile'): void;
  /** A legacy code with no configured mapping was read. */
  unknownCode(column: string, code: string): void;
  /**
   * A row that could not be read (a datetime the clock cannot parse) was left out of a slot search,
   * an appointment search by NHS number or a reconcile step, which went on without it. `id` is the
   * row's key (SLOT_ID, or the FHIR Appointment id); `reason` never quotes patient data.
   */
  unreadableRow(table: 'CLINIC_SLOT' | 'APPOINTMENT', id: string, reason: string): void;
}

/** One bounded step of a reconcile sweep: keyset paging on the product's APPOINTMENT_ID (FHIR id). */
export interface ReconcileQuery {
  limit: number;
  /** The last APPOINTMENT_ID (the FHIR Appointment id) of the previous step's `next`; absent = start. */
  after?: string;
  /** ISO-8601 UTC instant: appointments that ended before it and are in a final state are skipped. */
  now: string;
}

export interface ReconcileResult {
  checked: number;
  versioned: number;
  /** Rows that could not be composed (reported to `PasObserver.unreadableRow`) and were passed over; absent = 0. */
  unreadable?: number;
  /** Pass as `after` to continue; undefined = the sweep is done. */
  next?: string;
}

/** The port. Each write is one transaction: wholly made or not at all. */
export interface PasPort {
  readonly kind: string;
  searchSlots(query: SlotQuery): Promise<SlotSearchResult>;
  book(command: BookCommand): Promise<BookResult>;
  /**
   * Current versions of the appointments the product booked for a patient (by NHS number) and/or
   * with a logical id, ordered by start; a patient search returns only those not yet ended.
   */
  searchAppointments(query: AppointmentQuery): Promise<AppointmentVersion[]>;
  /** The current version, or the given one; null when unknown. */
  readAppointment(appointmentId: string, versionId?: string): Promise<AppointmentVersion | null>;
  cancel(command: CancelCommand): Promise<CancelResult>;
  /** The committed write made under this X-Request-ID, if any (replays are answered from it). */
  findWrite(context: WriteContext): Promise<ReplayedWrite | null>;
  /**
   * Composes the product's not-yet-ended appointments from the PAS rows and records a new version
   * where they differ (the same code path as reads), `limit` appointments per call.
   */
  reconcile(query: ReconcileQuery): Promise<ReconcileResult>;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  /**
   * What the PAS lacks of the tables, columns and grants the adapter's SQL uses, one line each
   * (empty when nothing): checked once at the worker's start. Throws TransientPasError when the PAS
   * cannot be asked now.
   */
  checkSchema(): Promise<string[]>;
  close(): Promise<void>;
}

/** Raised by adapters for failures worth retrying (deadlock, lock timeout, lost connection). */
export class TransientPasError extends Error {
  override readonly name = 'TransientPasError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A write whose deadline (WriteDeadline) had passed by the time its transaction began, or by the
 * time it was ready to commit: rolled back, nothing written. Not transient: no retry may follow.
 */
export class WriteDeadlinePassedError extends Error {
  override readonly name = 'WriteDeadlinePassedError';
  constructor(readonly deadline: number) {
    super(`the write's deadline (${new Date(deadline).toISOString()}) had passed inside its PAS transaction; it was rolled back, nothing was written`);
  }
}
