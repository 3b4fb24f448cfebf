/**
 * What the PAS adapters need of a PAS: the reference tables (docker/pas/01-legacy-schema.sql,
 * adapters/pas/sql/sqlite-schema.sql), the columns the adapters actually read and write, and the
 * indexes the queries rely on. A trust may provide the legacy tables as views over its own, so the
 * columns listed are the ones used, not every reference column. doctor's checks and the worker's
 * start-up probe (transactions/schema-probe.ts) read it; tests hold the worker login's grants
 * (docker/compose.yaml, docker/azure-sql/worker-role.sql, docs/install.md) and the adapter's SQL to it.
 */

export interface TableRequirement {
  /** The reference name: legacy tables unqualified, the product's own as booking.NAME. */
  name: string;
  /** True for the product's own tables (schema "booking"; prefix booking_ on SQLite). */
  product: boolean;
  reads: string[];
  /** Columns set by INSERT. */
  inserts: string[];
  /** Columns changed by UPDATE. */
  updates: string[];
}

export interface IndexRequirement {
  table: string;
  /** Leading key columns, in order (any order for a unique requirement). */
  columns: string[];
  unique: boolean;
  why: string;
}

const BOOKING_APPOINTMENT = ['APPOINTMENT_ID', 'PAS_APPT_ID', 'SLOT_ID', 'CURRENT_VERSION', 'STATUS', 'LAST_UPDATED_UTC', 'PAS_PATIENT_ID'];
const BOOKING_VERSION = ['APPOINTMENT_ID', 'VERSION_ID', 'STATUS', 'LAST_UPDATED_UTC', 'RESOURCE_JSON'];
const BOOKING_REQUEST = ['REQUEST_ID', 'INTERACTION', 'JOB_ID', 'APPOINTMENT_ID', 'VERSION_ID', 'CREATED_UTC'];

export const TABLES: TableRequirement[] = [
  { name: 'ORGANISATION', product: false, reads: ['ORG_CODE', 'ORG_NAME', 'PHONE_NO', 'ADDR_LINE1', 'ADDR_LINE2', 'TOWN', 'POSTCODE'], inserts: [], updates: [] },
  { name: 'SITE', product: false, reads: ['SITE_CODE', 'SITE_NAME', 'PHONE_NO', 'ADDR_LINE1', 'ADDR_LINE2', 'TOWN', 'POSTCODE'], inserts: [], updates: [] },
  {
    name: 'STAFF',
    product: false,
    reads: ['STAFF_CODE', 'TITLE', 'FORENAMES', 'SURNAME', 'SDS_USER_ID', 'SDS_ROLE_PROFILE_ID', 'JOB_ROLE_CODE', 'JOB_ROLE_DESC'],
    inserts: [],
    updates: [],
  },
  {
    name: 'CLINIC',
    product: false,
    reads: ['CLINIC_CODE', 'CLINIC_NAME', 'DOS_SERVICE_ID', 'SERVICE_NAME', 'SITE_CODE', 'ORG_CODE', 'STAFF_CODE', 'ACTIVE_FLAG'],
    inserts: [],
    updates: [],
  },
  {
    name: 'CLINIC_SLOT',
    product: false,
    reads: ['SLOT_ID', 'SLOT_GUID', 'CLINIC_CODE', 'START_DTTM', 'END_DTTM', 'SLOT_STATUS', 'CONTACT_TYPE'],
    inserts: [],
    updates: ['SLOT_STATUS', 'LAST_UPD_DTTM'],
  },
  {
    name: 'PATIENT',
    product: false,
    // Demographics: a relinked appointment's contained Patient is composed from the PATIENT row.
    reads: ['PATIENT_ID', 'HOSP_NO', 'NHS_NO', 'NHS_NO_STATUS', 'TITLE', 'FORENAMES', 'SURNAME', 'SEX', 'DOB', 'ADDR_LINE1', 'ADDR_LINE2', 'TOWN', 'POSTCODE', 'PHONE_NO'],
    inserts: ['NHS_NO', 'NHS_NO_STATUS', 'TITLE', 'FORENAMES', 'SURNAME', 'SEX', 'DOB', 'ADDR_LINE1', 'ADDR_LINE2', 'POSTCODE', 'PHONE_NO', 'REG_TYPE', 'CREATED_DTTM'],
    updates: ['HOSP_NO'],
  },
  {
    name: 'APPOINTMENT',
    product: false,
    reads: ['APPT_ID', 'SLOT_ID', 'PATIENT_ID', 'APPT_STATUS', 'START_DTTM', 'END_DTTM'],
    inserts: ['SLOT_ID', 'PATIENT_ID', 'APPT_STATUS', 'START_DTTM', 'END_DTTM', 'REASON', 'SOURCE_CODE', 'BOOKED_DTTM'],
    updates: ['APPT_STATUS', 'CANCELLED_DTTM'],
  },
  { name: 'booking.FHIR_APPOINTMENT', product: true, reads: BOOKING_APPOINTMENT, inserts: BOOKING_APPOINTMENT, updates: ['CURRENT_VERSION', 'STATUS', 'SLOT_ID', 'LAST_UPDATED_UTC', 'PAS_PATIENT_ID'] },
  { name: 'booking.FHIR_APPOINTMENT_VERSION', product: true, reads: BOOKING_VERSION, inserts: BOOKING_VERSION, updates: [] },
  { name: 'booking.REQUEST_LOG', product: true, reads: BOOKING_REQUEST, inserts: BOOKING_REQUEST, updates: [] },
  { name: 'booking.PATIENT_REGISTRATION', product: true, reads: ['LOCK_ID', 'LAST_REGISTERED_UTC'], inserts: [], updates: ['LAST_REGISTERED_UTC'] },
];

export const INDEXES: IndexRequirement[] = [
  { table: 'CLINIC', columns: ['DOS_SERVICE_ID'], unique: false, why: 'slot search finds the clinics of a service by it' },
  { table: 'CLINIC_SLOT', columns: ['SLOT_ID'], unique: true, why: 'bookings and cancels update one slot by its key' },
  { table: 'CLINIC_SLOT', columns: ['CLINIC_CODE', 'START_DTTM'], unique: false, why: 'slot search reads a clinic\u2019s slots in a time window' },
  { table: 'CLINIC_SLOT', columns: ['SLOT_GUID'], unique: true, why: 'a booking finds its slot by the GUID the consumer sends' },
  { table: 'PATIENT', columns: ['PATIENT_ID'], unique: true, why: 'appointments point at patients by it' },
  { table: 'PATIENT', columns: ['NHS_NO'], unique: false, why: 'a booking looks the patient up by NHS number' },
  { table: 'PATIENT', columns: ['HOSP_NO'], unique: true, why: 'hospital numbers identify patients in FHIR answers' },
  { table: 'APPOINTMENT', columns: ['APPT_ID'], unique: true, why: 'the product\u2019s rows point at legacy appointments by it' },
  { table: 'APPOINTMENT', columns: ['SLOT_ID'], unique: false, why: 'the consistency check and slot look-ups join on it' },
  { table: 'APPOINTMENT', columns: ['PATIENT_ID'], unique: false, why: 'appointment search by NHS number joins on it' },
  { table: 'booking.FHIR_APPOINTMENT', columns: ['APPOINTMENT_ID'], unique: true, why: 'the FHIR id (primary key)' },
  { table: 'booking.FHIR_APPOINTMENT', columns: ['PAS_APPT_ID'], unique: true, why: 'one FHIR appointment per legacy appointment' },
  { table: 'booking.FHIR_APPOINTMENT_VERSION', columns: ['APPOINTMENT_ID', 'VERSION_ID'], unique: true, why: 'each version is stored once (primary key)' },
  { table: 'booking.REQUEST_LOG', columns: ['REQUEST_ID'], unique: true, why: 'the X-Request-ID idempotency guard (primary key)' },
  { table: 'booking.PATIENT_REGISTRATION', columns: ['LOCK_ID'], unique: true, why: 'new-patient registrations take turns on its one row (primary key)' },
];
