-- Legacy PAS schema (reference) for SQL Server 2017+, Azure SQL and Babelfish for PostgreSQL.
--
-- Same tables, columns and meaning as adapters/pas/sql/sqlite-schema.sql, in the types a legacy
-- SQL Server PAS has: CHAR codes, one-letter statuses, INT IDENTITY keys, UNIQUEIDENTIFIER slot
-- GUIDs and DATETIME columns holding local (Europe/London) wall-clock times. A trust's own PAS
-- already has these tables; this script is for demos, tests and the docker image only.
--
-- Idempotent: every object is created only when missing, so it can run at each container start.
-- Tables are found by OBJECT_ID; indexes by their table and leading key columns, never by name
-- alone (Babelfish stores an index under its name plus a hash suffix, so a name never matches
-- there; and a trust's DBA may have made the same index under another name).
-- The filtered index below needs these session settings (sqlcmd leaves QUOTED_IDENTIFIER off
-- unless run with -I; tedious, the adapter's driver, sets them all this way already).

SET ANSI_NULLS ON;
SET ANSI_PADDING ON;
SET ANSI_WARNINGS ON;
SET ARITHABORT ON;
SET CONCAT_NULL_YIELDS_NULL ON;
SET NUMERIC_ROUNDABORT OFF;
SET QUOTED_IDENTIFIER ON;
GO

IF OBJECT_ID(N'dbo.ORGANISATION', N'U') IS NULL
CREATE TABLE dbo.ORGANISATION (
  ORG_CODE      CHAR(6)      NOT NULL CONSTRAINT PK_ORGANISATION PRIMARY KEY,
  ORG_NAME      VARCHAR(100) NOT NULL,
  PHONE_NO      VARCHAR(20)  NULL,
  ADDR_LINE1    VARCHAR(50)  NULL,
  ADDR_LINE2    VARCHAR(50)  NULL,
  TOWN          VARCHAR(50)  NULL,
  POSTCODE      VARCHAR(8)   NULL
);
GO

IF OBJECT_ID(N'dbo.SITE', N'U') IS NULL
CREATE TABLE dbo.SITE (
  SITE_CODE     CHAR(5)      NOT NULL CONSTRAINT PK_SITE PRIMARY KEY,
  SITE_NAME     VARCHAR(100) NOT NULL,
  ORG_CODE      CHAR(6)      NOT NULL CONSTRAINT FK_SITE_ORGANISATION REFERENCES dbo.ORGANISATION (ORG_CODE),
  PHONE_NO      VARCHAR(20)  NULL,
  ADDR_LINE1    VARCHAR(50)  NULL,
  ADDR_LINE2    VARCHAR(50)  NULL,
  TOWN          VARCHAR(50)  NULL,
  POSTCODE      VARCHAR(8)   NULL
);
GO

IF OBJECT_ID(N'dbo.STAFF', N'U') IS NULL
CREATE TABLE dbo.STAFF (
  STAFF_CODE          CHAR(8)      NOT NULL CONSTRAINT PK_STAFF PRIMARY KEY,
  TITLE               VARCHAR(10)  NULL,
  FORENAMES           VARCHAR(50)  NULL,
  SURNAME             VARCHAR(50)  NOT NULL,
  SDS_USER_ID         CHAR(12)     NULL,
  SDS_ROLE_PROFILE_ID CHAR(12)     NULL,
  JOB_ROLE_CODE       CHAR(5)      NULL,
  JOB_ROLE_DESC       VARCHAR(100) NULL
);
GO

-- A clinic is a diary (FHIR Schedule); DOS_SERVICE_ID links it to the directory service.
IF OBJECT_ID(N'dbo.CLINIC', N'U') IS NULL
CREATE TABLE dbo.CLINIC (
  CLINIC_CODE     CHAR(8)      NOT NULL CONSTRAINT PK_CLINIC PRIMARY KEY,
  CLINIC_NAME     VARCHAR(100) NOT NULL,
  DOS_SERVICE_ID  VARCHAR(20)  NULL,
  SERVICE_NAME    VARCHAR(100) NULL,
  SITE_CODE       CHAR(5)      NULL     CONSTRAINT FK_CLINIC_SITE REFERENCES dbo.SITE (SITE_CODE),
  ORG_CODE        CHAR(6)      NOT NULL CONSTRAINT FK_CLINIC_ORGANISATION REFERENCES dbo.ORGANISATION (ORG_CODE),
  STAFF_CODE      CHAR(8)      NULL     CONSTRAINT FK_CLINIC_STAFF REFERENCES dbo.STAFF (STAFF_CODE),
  ACTIVE_FLAG     CHAR(1)      NOT NULL DEFAULT 'Y'
);
GO

IF NOT EXISTS (SELECT 1 FROM sys.indexes i
                 JOIN sys.index_columns k1 ON k1.object_id = i.object_id AND k1.index_id = i.index_id AND k1.key_ordinal = 1
                 JOIN sys.columns c1 ON c1.object_id = k1.object_id AND c1.column_id = k1.column_id AND c1.name = N'DOS_SERVICE_ID'
                WHERE i.object_id = OBJECT_ID(N'dbo.CLINIC'))
  CREATE INDEX IX_CLINIC_DOS_SERVICE ON dbo.CLINIC (DOS_SERVICE_ID);
GO

-- SLOT_STATUS: F free, B booked, U unavailable, T tentative, X entered in error.
-- CONTACT_TYPE: F face to face, T telephone, V video, NULL not recorded.
-- START_DTTM / END_DTTM / LAST_UPD_DTTM: local wall-clock time, no offset.
-- SLOT_ID from 1001: the Booking API's example booking body (the assurance harness's) names its
-- contained DocumentReference "123", and the contained Slot takes the slot's id (docs/pas.md).
IF OBJECT_ID(N'dbo.CLINIC_SLOT', N'U') IS NULL
CREATE TABLE dbo.CLINIC_SLOT (
  SLOT_ID        INT IDENTITY(1001, 1) NOT NULL CONSTRAINT PK_CLINIC_SLOT PRIMARY KEY,
  CLINIC_CODE    CHAR(8)          NOT NULL CONSTRAINT FK_CLINIC_SLOT_CLINIC REFERENCES dbo.CLINIC (CLINIC_CODE),
  SLOT_GUID      UNIQUEIDENTIFIER NOT NULL DEFAULT NEWID(),
  START_DTTM     DATETIME         NOT NULL,
  END_DTTM       DATETIME         NOT NULL,
  SLOT_STATUS    CHAR(1)          NOT NULL DEFAULT 'F',
  CONTACT_TYPE   CHAR(1)          NULL,
  LAST_UPD_DTTM  DATETIME         NULL,
  CONSTRAINT UQ_CLINIC_SLOT_GUID UNIQUE (SLOT_GUID)
);
GO

IF NOT EXISTS (SELECT 1 FROM sys.indexes i
                 JOIN sys.index_columns k1 ON k1.object_id = i.object_id AND k1.index_id = i.index_id AND k1.key_ordinal = 1
                 JOIN sys.columns c1 ON c1.object_id = k1.object_id AND c1.column_id = k1.column_id AND c1.name = N'CLINIC_CODE'
                 JOIN sys.index_columns k2 ON k2.object_id = i.object_id AND k2.index_id = i.index_id AND k2.key_ordinal = 2
                 JOIN sys.columns c2 ON c2.object_id = k2.object_id AND c2.column_id = k2.column_id AND c2.name = N'START_DTTM'
                WHERE i.object_id = OBJECT_ID(N'dbo.CLINIC_SLOT'))
  CREATE INDEX IX_CLINIC_SLOT_CLINIC_START ON dbo.CLINIC_SLOT (CLINIC_CODE, START_DTTM)
    INCLUDE (SLOT_STATUS, SLOT_GUID, END_DTTM, CONTACT_TYPE); -- covers the slot search: no key look-ups
GO

-- REG_TYPE: P permanent (registered by the trust), T temporary (created by a booking).
-- HOSP_NO is unique when present; a booking sets it right after the insert (see UX_PATIENT_HOSP_NO).
IF OBJECT_ID(N'dbo.PATIENT', N'U') IS NULL
CREATE TABLE dbo.PATIENT (
  PATIENT_ID     INT IDENTITY(1, 1) NOT NULL CONSTRAINT PK_PATIENT PRIMARY KEY,
  HOSP_NO        CHAR(10)     NULL,
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
GO

-- Filtered, so any number of rows may have no hospital number yet (a plain UNIQUE constraint on
-- SQL Server admits one NULL only, which would serialise concurrent registrations).
IF NOT EXISTS (SELECT 1 FROM sys.indexes i
                 JOIN sys.index_columns k1 ON k1.object_id = i.object_id AND k1.index_id = i.index_id AND k1.key_ordinal = 1
                 JOIN sys.columns c1 ON c1.object_id = k1.object_id AND c1.column_id = k1.column_id AND c1.name = N'HOSP_NO'
                WHERE i.object_id = OBJECT_ID(N'dbo.PATIENT') AND i.is_unique = 1)
  CREATE UNIQUE INDEX UX_PATIENT_HOSP_NO ON dbo.PATIENT (HOSP_NO) WHERE HOSP_NO IS NOT NULL;
GO

IF NOT EXISTS (SELECT 1 FROM sys.indexes i
                 JOIN sys.index_columns k1 ON k1.object_id = i.object_id AND k1.index_id = i.index_id AND k1.key_ordinal = 1
                 JOIN sys.columns c1 ON c1.object_id = k1.object_id AND c1.column_id = k1.column_id AND c1.name = N'NHS_NO'
                WHERE i.object_id = OBJECT_ID(N'dbo.PATIENT'))
  CREATE INDEX IX_PATIENT_NHS_NO ON dbo.PATIENT (NHS_NO);
GO

-- APPT_STATUS (reference codes; a trust maps its own with PAS_APPOINTMENT_STATUS_MAP):
--   B booked, A arrived, S attended (seen), D did not attend,
--   P cancelled by the patient, H cancelled by the hospital.
--   'C' (cancelled) is no longer written; older demo data may still hold it.
-- Datetimes local, as everywhere in the legacy tables.
IF OBJECT_ID(N'dbo.APPOINTMENT', N'U') IS NULL
CREATE TABLE dbo.APPOINTMENT (
  APPT_ID         INT IDENTITY(1, 1) NOT NULL CONSTRAINT PK_APPOINTMENT PRIMARY KEY,
  SLOT_ID         INT          NOT NULL CONSTRAINT FK_APPOINTMENT_SLOT REFERENCES dbo.CLINIC_SLOT (SLOT_ID),
  PATIENT_ID      INT          NOT NULL CONSTRAINT FK_APPOINTMENT_PATIENT REFERENCES dbo.PATIENT (PATIENT_ID),
  APPT_STATUS     CHAR(1)      NOT NULL,
  START_DTTM      DATETIME     NOT NULL,
  END_DTTM        DATETIME     NOT NULL,
  REASON          VARCHAR(255) NULL,
  SOURCE_CODE     CHAR(4)      NOT NULL,
  BOOKED_DTTM     DATETIME     NOT NULL,
  CANCELLED_DTTM  DATETIME     NULL
);
GO

IF NOT EXISTS (SELECT 1 FROM sys.indexes i
                 JOIN sys.index_columns k1 ON k1.object_id = i.object_id AND k1.index_id = i.index_id AND k1.key_ordinal = 1
                 JOIN sys.columns c1 ON c1.object_id = k1.object_id AND c1.column_id = k1.column_id AND c1.name = N'SLOT_ID'
                WHERE i.object_id = OBJECT_ID(N'dbo.APPOINTMENT'))
  CREATE INDEX IX_APPOINTMENT_SLOT ON dbo.APPOINTMENT (SLOT_ID);
GO

IF NOT EXISTS (SELECT 1 FROM sys.indexes i
                 JOIN sys.index_columns k1 ON k1.object_id = i.object_id AND k1.index_id = i.index_id AND k1.key_ordinal = 1
                 JOIN sys.columns c1 ON c1.object_id = k1.object_id AND c1.column_id = k1.column_id AND c1.name = N'PATIENT_ID'
                WHERE i.object_id = OBJECT_ID(N'dbo.APPOINTMENT'))
  CREATE INDEX IX_APPOINTMENT_PATIENT ON dbo.APPOINTMENT (PATIENT_ID);
GO
