-- Demo data for a fresh SQL Server PAS: the same data set as adapters/pas/src/demo-data.ts.
--
--   999999999  Demo Urgent Treatment Centre     160 free 15-minute slots from tomorrow 08:00, 40 a day
--   999999998  Demo Service Without Slots       no slots (searches give an empty bundle)
--   999999996  Demo Service (security checks)   40 free slots tomorrow
--   999999994  Demo Service (verb checks)       40 free slots tomorrow
--   999999993  Demo Service (slots only)        40 slots tomorrow, every 4th busy or tentative
--
-- Each service has its own organisation, site, clinician and clinic. Slot times are local
-- (Europe/London) wall-clock times computed from the server's current date. Runs once: when the
-- demo clinics exist already it does nothing (loadDemoDataMssql in adapters/pas reloads a fresh set).

SET NOCOUNT ON;
SET XACT_ABORT ON; -- any error rolls the whole seed back

IF NOT EXISTS (SELECT 1 FROM dbo.CLINIC WHERE CLINIC_CODE = 'DEMOCL01')
BEGIN
  DECLARE @services TABLE (N INT NOT NULL, SERVICE_ID VARCHAR(20) NOT NULL, NAME VARCHAR(100) NOT NULL, SLOTS INT NOT NULL);
  INSERT INTO @services (N, SERVICE_ID, NAME, SLOTS) VALUES
    (1, '999999999', 'Demo Urgent Treatment Centre', 160),
    (2, '999999998', 'Demo Service Without Slots', 0),
    (3, '999999996', 'Demo Service (security checks)', 40),
    (4, '999999994', 'Demo Service (verb checks)', 40),
    (5, '999999993', 'Demo Service (slots only)', 40);

  BEGIN TRANSACTION;

  -- Codes as demo-data.ts makes them: service n: RDM0n0 (organisation), RDMn0 (site),
  -- DEMO000n (clinician), DEMOCL0n (clinic), role profile R8000n000000.
  INSERT INTO dbo.ORGANISATION (ORG_CODE, ORG_NAME, PHONE_NO, ADDR_LINE1, ADDR_LINE2, TOWN, POSTCODE)
  SELECT 'RDM0' + CAST(N AS VARCHAR(1)) + '0', 'Demo Trust ' + CAST(N AS VARCHAR(1)), '0300 000 000' + CAST(N AS VARCHAR(1)),
         CAST(N AS VARCHAR(1)) + ' Demo Road', NULL, 'Leeds', 'LS1 4AP'
    FROM @services;

  INSERT INTO dbo.SITE (SITE_CODE, SITE_NAME, ORG_CODE, PHONE_NO, ADDR_LINE1, ADDR_LINE2, TOWN, POSTCODE)
  SELECT 'RDM' + CAST(N AS VARCHAR(1)) + '0', NAME + ' Site', 'RDM0' + CAST(N AS VARCHAR(1)) + '0', '0300 000 100' + CAST(N AS VARCHAR(1)),
         CAST(N AS VARCHAR(1)) + ' Clinic Street', NULL, 'Leeds', 'LS2 9JT'
    FROM @services;

  INSERT INTO dbo.STAFF (STAFF_CODE, TITLE, FORENAMES, SURNAME, SDS_USER_ID, SDS_ROLE_PROFILE_ID, JOB_ROLE_CODE, JOB_ROLE_DESC)
  SELECT 'DEMO000' + CAST(N AS VARCHAR(1)), 'Dr', 'Alex', 'Demo' + CAST(N AS VARCHAR(1)), '90000000000' + CAST(N AS VARCHAR(1)),
         'R8000' + CAST(N AS VARCHAR(1)) + '000000', 'R0260', 'General Medical Practitioner'
    FROM @services;

  INSERT INTO dbo.CLINIC (CLINIC_CODE, CLINIC_NAME, DOS_SERVICE_ID, SERVICE_NAME, SITE_CODE, ORG_CODE, STAFF_CODE, ACTIVE_FLAG)
  SELECT 'DEMOCL0' + CAST(N AS VARCHAR(1)), NAME + ' Clinic', SERVICE_ID, NAME, 'RDM' + CAST(N AS VARCHAR(1)) + '0',
         'RDM0' + CAST(N AS VARCHAR(1)) + '0', 'DEMO000' + CAST(N AS VARCHAR(1)), 'Y'
    FROM @services;

  -- Tomorrow 00:00 in London, whatever time zone the server itself runs in.
  DECLARE @tomorrow DATETIME = DATEADD(DAY, 1, CONVERT(DATETIME, CONVERT(DATE, SYSDATETIMEOFFSET() AT TIME ZONE 'GMT Standard Time')));
  DECLARE @n INT = 1, @i INT, @slots INT, @service VARCHAR(20), @clinic CHAR(8), @start DATETIME;

  WHILE @n <= 5
  BEGIN
    SELECT @slots = SLOTS, @service = SERVICE_ID, @clinic = 'DEMOCL0' + CAST(N AS VARCHAR(1)) FROM @services WHERE N = @n;
    SET @i = 0;
    WHILE @i < @slots
    BEGIN
      -- Slot i: day i / 40 after tomorrow, 08:00 + 15 minutes * (i mod 40).
      SET @start = DATEADD(MINUTE, (@i % 40) * 15, DATEADD(HOUR, 8, DATEADD(DAY, @i / 40, @tomorrow)));
      INSERT INTO dbo.CLINIC_SLOT (CLINIC_CODE, SLOT_GUID, START_DTTM, END_DTTM, SLOT_STATUS, CONTACT_TYPE)
      VALUES (
        @clinic,
        NEWID(),
        @start,
        DATEADD(MINUTE, 15, @start),
        CASE WHEN @service = '999999993' AND @i % 4 = 1 THEN CASE WHEN @i % 8 = 1 THEN 'B' ELSE 'T' END ELSE 'F' END,
        CASE @i % 3 WHEN 0 THEN 'F' WHEN 1 THEN 'T' ELSE NULL END
      );
      SET @i = @i + 1;
    END;
    SET @n = @n + 1;
  END;

  COMMIT TRANSACTION;
END;
GO
