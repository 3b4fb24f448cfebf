-- Reference PAS schema for the embedded SQLite demo PAS.
-- Same tables, columns and meaning as the T-SQL in docker/pas/ (SQL Server is the real target).
-- Legacy tables keep their legacy shape: CHAR codes, one-letter statuses, local (Europe/London)
-- datetimes stored as 'YYYY-MM-DD HH:MM:SS'. The product never changes these tables' shape.

CREATE TABLE IF NOT EXISTS ORGANISATION (
  ORG_CODE      CHAR(6)      NOT NULL PRIMARY KEY,
  ORG_NAME      VARCHAR(100) NOT NULL,
  PHONE_NO      VARCHAR(20)  NULL,
  ADDR_LINE1    VARCHAR(50)  NULL,
  ADDR_LINE2    VARCHAR(50)  NULL,
  TOWN          VARCHAR(50)  NULL,
  POSTCODE      VARCHAR(8)   NULL
);

CREATE TABLE IF NOT EXISTS SITE (
  SITE_CODE     CHAR(5)      NOT NULL PRIMARY KEY,
  SITE_NAME     VARCHAR(100) NOT NULL,
  ORG_CODE      CHAR(6)      NOT NULL REFERENCES ORGANISATION (ORG_CODE),
  PHONE_NO      VARCHAR(20)  NULL,
  ADDR_LINE1    VARCHAR(50)  NULL,
  ADDR_LINE2    VARCHAR(50)  NULL,
  TOWN          VARCHAR(50)  NULL,
  POSTCODE      VARCHAR(8)   NULL
);

CREATE TABLE IF NOT EXISTS STAFF (
  STAFF_CODE          CHAR(8)      NOT NULL PRIMARY KEY,
  TITLE               VARCHAR(10)  NULL,
  FORENAMES           VARCHAR(50)  NULL,
  SURNAME             VARCHAR(50)  NOT NULL,
  SDS_USER_ID         CHAR(12)     NULL,
  SDS_ROLE_PROFILE_ID CHAR(12)     NULL,
  JOB_ROLE_CODE       CHAR(5)      NULL,
  JOB_ROLE_DESC       VARCHAR(100) NULL
);

-- A clinic is a diary (FHIR Schedule); DOS_SERVICE_ID links it to the directory service.
CREATE TABLE IF NOT EXISTS CLINIC (
  CLINIC_CODE     CHAR(8)      NOT NULL PRIMARY KEY,
  CLINIC_NAME     VARCHAR(100) NOT NULL,
  DOS_SERVICE_ID  VARCHAR(20)  NULL,
  SERVICE_NAME    VARCHAR(100) NULL,
  SITE_CODE       CHAR(5)      NULL REFERENCES SITE (SITE_CODE),
  ORG_CODE        CHAR(6)      NOT NULL REFERENCES ORGANISATION (ORG_CODE),
  STAFF_CODE      CHAR(8)      NULL REFERENCES STAFF (STAFF_CODE),
  ACTIVE_FLAG     CHAR(1)      NOT NULL DEFAULT 'Y'
);
CREATE INDEX IF NOT EXISTS IX_CLINIC_DOS_SERVICE ON CLINIC (DOS_SERVICE_ID);

-- SLOT_STATUS: F free, B booked, U unavailable, T tentative, X entered in error.
-- CONTACT_TYPE: F face to face, T telephone, V video, NULL not recorded.
CREATE TABLE IF NOT EXISTS CLINIC_SLOT (
  SLOT_ID        INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
  CLINIC_CODE    CHAR(8)      NOT NULL REFERENCES CLINIC (CLINIC_CODE),
  SLOT_GUID      CHAR(36)     NOT NULL UNIQUE,
  START_DTTM     DATETIME     NOT NULL,
  END_DTTM       DATETIME     NOT NULL,
  SLOT_STATUS    CHAR(1)      NOT NULL DEFAULT 'F',
  CONTACT_TYPE   CHAR(1)      NULL,
  LAST_UPD_DTTM  DATETIME     NULL
);
CREATE INDEX IF NOT EXISTS IX_CLINIC_SLOT_CLINIC_START ON CLINIC_SLOT (CLINIC_CODE, START_DTTM);
-- A new PAS numbers its slots from 1001 (createSqliteSchema seeds sqlite_sequence): the Booking API's
-- example booking body (the assurance harness's) names its contained DocumentReference "123", and
-- the contained Slot takes the slot's id.

-- REG_TYPE: P permanent (registered by the trust), T temporary (created by a booking).
CREATE TABLE IF NOT EXISTS PATIENT (
  PATIENT_ID     INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
  HOSP_NO        CHAR(10)     NULL UNIQUE,
  NHS_NO         CHAR(10)     NULL,
  NHS_NO_STATUS  CHAR(2)      NULL,
  TITLE          VARCHAR(10)  NULL,
  FORENAMES      VARCHAR(50)  NULL,
  SURNAME        VARCHAR(50)  NOT NULL,
  SEX            CHAR(1)      NOT NULL,
  DOB            DATETIME     NOT NULL,
  ADDR_LINE1     VARCHAR(50)  NULL,
  ADDR_LINE2     VARCHAR(50)  NULL,
  TOWN           VARCHAR(50)  NULL,
  POSTCODE       VARCHAR(8)   NULL,
  PHONE_NO       VARCHAR(20)  NULL,
  REG_TYPE       CHAR(1)      NOT NULL DEFAULT 'P',
  CREATED_DTTM   DATETIME     NOT NULL
);
CREATE INDEX IF NOT EXISTS IX_PATIENT_NHS_NO ON PATIENT (NHS_NO);

-- APPT_STATUS (reference codes; a trust maps its own with PAS_APPOINTMENT_STATUS_MAP):
--   B booked, A arrived, S attended (seen), D did not attend,
--   P cancelled by the patient, H cancelled by the hospital.
--   'C' (cancelled) is no longer written; older demo data may still hold it.
CREATE TABLE IF NOT EXISTS APPOINTMENT (
  APPT_ID         INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
  SLOT_ID         INTEGER      NOT NULL REFERENCES CLINIC_SLOT (SLOT_ID),
  PATIENT_ID      INTEGER      NOT NULL REFERENCES PATIENT (PATIENT_ID),
  APPT_STATUS     CHAR(1)      NOT NULL,
  START_DTTM      DATETIME     NOT NULL,
  END_DTTM        DATETIME     NOT NULL,
  REASON          VARCHAR(255) NULL,
  SOURCE_CODE     CHAR(4)      NOT NULL,
  BOOKED_DTTM     DATETIME     NOT NULL,
  CANCELLED_DTTM  DATETIME     NULL
);
CREATE INDEX IF NOT EXISTS IX_APPOINTMENT_SLOT ON APPOINTMENT (SLOT_ID);
CREATE INDEX IF NOT EXISTS IX_APPOINTMENT_PATIENT ON APPOINTMENT (PATIENT_ID);

-- The product's own tables (schema "booking" on SQL Server; a "booking_" prefix here).
-- No foreign key onto the legacy APPOINTMENT table: the trust's purge jobs must never fail on it.
CREATE TABLE IF NOT EXISTS booking_FHIR_APPOINTMENT (
  APPOINTMENT_ID    CHAR(36)     NOT NULL PRIMARY KEY,
  PAS_APPT_ID       INTEGER      NOT NULL UNIQUE,
  SLOT_ID           INTEGER      NOT NULL,
  CURRENT_VERSION   INTEGER      NOT NULL,
  STATUS            VARCHAR(20)  NOT NULL,
  LAST_UPDATED_UTC  VARCHAR(24)  NOT NULL,
  -- The PAS patient the current version was composed for (NULL: made before this column existed).
  PAS_PATIENT_ID    INTEGER      NULL
);

-- Every version the product ever wrote, unchanged.
CREATE TABLE IF NOT EXISTS booking_FHIR_APPOINTMENT_VERSION (
  APPOINTMENT_ID    CHAR(36)     NOT NULL REFERENCES booking_FHIR_APPOINTMENT (APPOINTMENT_ID),
  VERSION_ID        INTEGER      NOT NULL,
  STATUS            VARCHAR(20)  NOT NULL,
  LAST_UPDATED_UTC  VARCHAR(24)  NOT NULL,
  RESOURCE_JSON     TEXT         NOT NULL,
  PRIMARY KEY (APPOINTMENT_ID, VERSION_ID)
);

-- X-Request-IDs of committed writes: the idempotency key, written in the same transaction.
CREATE TABLE IF NOT EXISTS booking_REQUEST_LOG (
  REQUEST_ID        VARCHAR(100) NOT NULL PRIMARY KEY,
  INTERACTION       VARCHAR(10)  NOT NULL,
  JOB_ID            VARCHAR(100) NOT NULL,
  APPOINTMENT_ID    CHAR(36)     NOT NULL,
  VERSION_ID        INTEGER      NOT NULL,
  CREATED_UTC       VARCHAR(24)  NOT NULL
);

-- The row new-patient registrations take in turn (see docker/pas/02-booking-schema.sql). SQLite's
-- write lock already serialises them; the row keeps the one transaction the same on both engines.
CREATE TABLE IF NOT EXISTS booking_PATIENT_REGISTRATION (
  LOCK_ID               INTEGER      NOT NULL PRIMARY KEY,
  LAST_REGISTERED_UTC   VARCHAR(24)  NULL
);
-- Its one row is written by createSqliteSchema (adapters/pas/src/sqlite/sqlite-pas.ts).
