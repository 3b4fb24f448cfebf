-- The product's own tables, in schema "booking" beside the legacy PAS tables (which it never
-- reshapes). SQL Server 2017+, Azure SQL and Babelfish for PostgreSQL. Idempotent.
--
-- Every booking or cancel writes, in one transaction with the legacy rows: the appointment row,
-- the new version (the FHIR resource exactly as returned) and the X-Request-ID it was made under.
-- Times here are UTC (DATETIME2), unlike the legacy tables' local times.

SET ANSI_NULLS ON;
SET QUOTED_IDENTIFIER ON;
GO

-- CREATE SCHEMA must be alone in its batch, hence the dynamic SQL behind the existence check.
IF SCHEMA_ID(N'booking') IS NULL
  EXEC (N'CREATE SCHEMA booking');
GO

-- One row per FHIR Appointment; CURRENT_VERSION moves only by a version-checked UPDATE.
-- No foreign key onto the trust's dbo.APPOINTMENT: a vendor's archive or purge job must never fail
-- (error 547) because of the product; `booking-facade consistency` checks the link instead.
IF OBJECT_ID(N'booking.FHIR_APPOINTMENT', N'U') IS NULL
CREATE TABLE booking.FHIR_APPOINTMENT (
  APPOINTMENT_ID    CHAR(36)     NOT NULL CONSTRAINT PK_FHIR_APPOINTMENT PRIMARY KEY,
  PAS_APPT_ID       INT          NOT NULL CONSTRAINT UQ_FHIR_APPOINTMENT_PAS_APPT UNIQUE,
  SLOT_ID           INT          NOT NULL,
  CURRENT_VERSION   INT          NOT NULL,
  STATUS            VARCHAR(20)  NOT NULL,
  LAST_UPDATED_UTC  DATETIME2(3) NOT NULL,
  PAS_PATIENT_ID    INT          NULL
);
GO

-- The PAS patient each appointment's current version was composed for, so a clerk's relink to
-- another patient is seen even when no identifier differs. Added to a database made before it
-- existed; NULL on those rows (they fall back to comparing identifiers until their next version).
IF NOT EXISTS (SELECT 1 FROM sys.columns WHERE object_id = OBJECT_ID(N'booking.FHIR_APPOINTMENT') AND name = N'PAS_PATIENT_ID')
  ALTER TABLE booking.FHIR_APPOINTMENT ADD PAS_PATIENT_ID INT NULL;
GO

-- Every version the product ever wrote, unchanged (the spec requires previous versions be kept).
IF OBJECT_ID(N'booking.FHIR_APPOINTMENT_VERSION', N'U') IS NULL
CREATE TABLE booking.FHIR_APPOINTMENT_VERSION (
  APPOINTMENT_ID    CHAR(36)      NOT NULL CONSTRAINT FK_FHIR_APPOINTMENT_VERSION_APPOINTMENT REFERENCES booking.FHIR_APPOINTMENT (APPOINTMENT_ID),
  VERSION_ID        INT           NOT NULL,
  STATUS            VARCHAR(20)   NOT NULL,
  LAST_UPDATED_UTC  DATETIME2(3)  NOT NULL,
  RESOURCE_JSON     NVARCHAR(MAX) NOT NULL,
  CONSTRAINT PK_FHIR_APPOINTMENT_VERSION PRIMARY KEY (APPOINTMENT_ID, VERSION_ID)
);
GO

-- X-Request-IDs of committed writes. The primary key is the idempotency guard: a second write
-- under the same id fails on it (error 2627) and the adapter answers with the first one's result.
IF OBJECT_ID(N'booking.REQUEST_LOG', N'U') IS NULL
CREATE TABLE booking.REQUEST_LOG (
  REQUEST_ID        VARCHAR(100) NOT NULL CONSTRAINT PK_REQUEST_LOG PRIMARY KEY,
  INTERACTION       VARCHAR(10)  NOT NULL,
  JOB_ID            VARCHAR(100) NOT NULL,
  APPOINTMENT_ID    CHAR(36)     NOT NULL,
  VERSION_ID        INT          NOT NULL,
  CREATED_UTC       DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME()
);
GO

-- One row that new-patient registrations take in turn. Two bookings for one NHS number the PAS does
-- not know yet would otherwise each register the patient: under RCSI (Azure SQL's default) and on
-- Babelfish neither sees the other's uncommitted PATIENT row. Updating this row first makes the
-- second wait for the first to commit, then find its patient. Held only by registrations.
IF OBJECT_ID(N'booking.PATIENT_REGISTRATION', N'U') IS NULL
CREATE TABLE booking.PATIENT_REGISTRATION (
  LOCK_ID               INT          NOT NULL CONSTRAINT PK_PATIENT_REGISTRATION PRIMARY KEY,
  LAST_REGISTERED_UTC   DATETIME2(3) NULL
);
GO

IF NOT EXISTS (SELECT 1 FROM booking.PATIENT_REGISTRATION WHERE LOCK_ID = 1)
  INSERT INTO booking.PATIENT_REGISTRATION (LOCK_ID, LAST_REGISTERED_UTC) VALUES (1, NULL);
GO

-- Earlier versions of this script made a foreign key from booking.FHIR_APPOINTMENT onto
-- dbo.APPOINTMENT: drop it, found by what it links (constraint names are not stable on Babelfish).
DECLARE @fk NVARCHAR(300);
SELECT @fk = QUOTENAME(fk.name)
  FROM sys.foreign_keys fk
 WHERE fk.parent_object_id = OBJECT_ID(N'booking.FHIR_APPOINTMENT')
   AND fk.referenced_object_id = OBJECT_ID(N'dbo.APPOINTMENT');
IF @fk IS NOT NULL
  EXEC (N'ALTER TABLE booking.FHIR_APPOINTMENT DROP CONSTRAINT ' + @fk);
GO
