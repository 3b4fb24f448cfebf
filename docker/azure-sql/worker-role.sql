-- The worker's least-privilege grants for Azure SQL Database (and Managed Instance), given to a
-- database role so that the worker's identity can be a contained database user with a password or
-- a Microsoft Entra managed identity. Azure SQL has no CREATE LOGIN ... CHECK_POLICY, and server
-- logins are not replicated to a failover group's secondary: contained users are (docs/install.md,
-- section 3.4). The grants are those of the on-premises login (docker/compose.yaml, worker-login.sql).
--
-- Run once in the PAS database (not master) as its owner or Entra admin, then add the worker's
-- user to the role (docs/install.md 3.4). Idempotent. Not run in this project's own environment
-- (no Azure SQL there).
--
--   sqlcmd -S tcp:<server>.database.windows.net,1433 -d PAS -G -I -b -i docker/azure-sql/worker-role.sql

SET NOCOUNT ON;

IF DATABASE_PRINCIPAL_ID(N'booking_worker_role') IS NULL
  CREATE ROLE booking_worker_role;

GRANT SELECT ON dbo.ORGANISATION (ORG_CODE, ORG_NAME, PHONE_NO, ADDR_LINE1, ADDR_LINE2, TOWN, POSTCODE) TO booking_worker_role;
GRANT SELECT ON dbo.SITE (SITE_CODE, SITE_NAME, PHONE_NO, ADDR_LINE1, ADDR_LINE2, TOWN, POSTCODE) TO booking_worker_role;
GRANT SELECT ON dbo.STAFF (STAFF_CODE, TITLE, FORENAMES, SURNAME, SDS_USER_ID, SDS_ROLE_PROFILE_ID, JOB_ROLE_CODE, JOB_ROLE_DESC) TO booking_worker_role;
GRANT SELECT ON dbo.CLINIC (CLINIC_CODE, CLINIC_NAME, DOS_SERVICE_ID, SERVICE_NAME, SITE_CODE, ORG_CODE, STAFF_CODE, ACTIVE_FLAG) TO booking_worker_role;
GRANT SELECT ON dbo.CLINIC_SLOT (SLOT_ID, SLOT_GUID, CLINIC_CODE, START_DTTM, END_DTTM, SLOT_STATUS, CONTACT_TYPE) TO booking_worker_role;
GRANT UPDATE ON dbo.CLINIC_SLOT (SLOT_STATUS, LAST_UPD_DTTM) TO booking_worker_role;
GRANT SELECT ON dbo.PATIENT (PATIENT_ID, HOSP_NO, NHS_NO, NHS_NO_STATUS, TITLE, FORENAMES, SURNAME, SEX, DOB, ADDR_LINE1, ADDR_LINE2, TOWN, POSTCODE, PHONE_NO) TO booking_worker_role;
GRANT INSERT ON dbo.PATIENT TO booking_worker_role;
GRANT UPDATE ON dbo.PATIENT (HOSP_NO) TO booking_worker_role;
GRANT SELECT ON dbo.APPOINTMENT (APPT_ID, SLOT_ID, PATIENT_ID, APPT_STATUS, START_DTTM, END_DTTM) TO booking_worker_role;
GRANT INSERT ON dbo.APPOINTMENT TO booking_worker_role;
GRANT UPDATE ON dbo.APPOINTMENT (APPT_STATUS, CANCELLED_DTTM) TO booking_worker_role;
GRANT SELECT, INSERT ON booking.FHIR_APPOINTMENT TO booking_worker_role;
GRANT UPDATE ON booking.FHIR_APPOINTMENT (CURRENT_VERSION, STATUS, SLOT_ID, LAST_UPDATED_UTC, PAS_PATIENT_ID) TO booking_worker_role;
GRANT SELECT, INSERT ON booking.FHIR_APPOINTMENT_VERSION TO booking_worker_role;
GRANT SELECT, INSERT ON booking.REQUEST_LOG TO booking_worker_role;
GRANT SELECT ON booking.PATIENT_REGISTRATION TO booking_worker_role;
GRANT UPDATE ON booking.PATIENT_REGISTRATION (LAST_REGISTERED_UTC) TO booking_worker_role;
