import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sql from 'mssql';
import { describe, expect, it } from 'vitest';
import { DEFAULT_STATUS_MAPPING, legacyStatus, parseStatusMapping } from '../src/appointment-status.js';
import { generateDemoData } from '../src/demo-data.js';
import { LocalClock } from '../src/local-time.js';
import { bind, IDENTITY_PARAM, MssqlDatabase, ROWCOUNT_PARAM, transactionPreamble, withIdentity, withRowCount } from '../src/mssql/mssql-db.js';
import { TransientPasError } from '../src/port.js';
import { commit, legacyCode, type PasDatabase, rollback, sqlp } from '../src/session.js';
import { loadDemoDataSqlite } from '../src/sqlite/demo-data.js';
import { SqlitePas } from '../src/sqlite/sqlite-pas.js';
import { checkHospitalNumberFormat, HOSPITAL_NUMBER_TRIES, PasRepository, temporaryHospitalNumber, temporaryHospitalNumbers } from '../src/transactions/repository.js';

/**
 * The rules of the PAS transactions that need no SQL Server to check (issue 11 items 2, 3, 5, 9 and
 * the status mapping): what MssqlDatabase sends and how it treats its connection, checked against
 * a stand-in for mssql's pool; what the shared repository asks of any database.
 */

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');

describe('status mapping (trust configuration)', () => {
  it('reads the reference codes by default, trimmed and case-insensitively', () => {
    expect(legacyStatus(DEFAULT_STATUS_MAPPING, 'B')).toEqual({ status: 'booked' });
    expect(legacyStatus(DEFAULT_STATUS_MAPPING, ' s ')).toEqual({ status: 'fulfilled' });
    expect(legacyStatus(DEFAULT_STATUS_MAPPING, 'd')).toEqual({ status: 'noshow' });
    expect(legacyStatus(DEFAULT_STATUS_MAPPING, 'P')).toEqual({ status: 'cancelled', cancelledBy: 'patient' });
    expect(legacyStatus(DEFAULT_STATUS_MAPPING, 'H')).toEqual({ status: 'cancelled', cancelledBy: 'hospital' });
    expect(legacyStatus(DEFAULT_STATUS_MAPPING, 'C')).toEqual({ status: 'cancelled' });
    expect(legacyStatus(DEFAULT_STATUS_MAPPING, 'Z')).toBeUndefined();
    expect(DEFAULT_STATUS_MAPPING).toMatchObject({ bookedCode: 'B', patientCancelCode: 'P', cancelledCodes: ['P', 'H', 'C'], cancellableCodes: ['B', 'A'] });
  });

  it("takes a trust's own codes", () => {
    const m = parseStatusMapping('BK=booked, ATT=fulfilled, arr=arrived, DNA=noshow, CP=cancelled:patient, CH=cancelled:hospital');
    expect(m).toMatchObject({ bookedCode: 'BK', patientCancelCode: 'CP', cancelledCodes: ['CP', 'CH'], cancellableCodes: ['BK', 'ARR'] });
  });

  it('refuses a wrong mapping with one line per mistake', () => {
    let message = '';
    try {
      parseStatusMapping("B=booked,B=arrived,X=seen,Y,S=fulfilled:patient,Q'=cancelled");
    } catch (error) {
      message = (error as Error).message;
    }
    const lines = message.split('\n').slice(1);
    expect(lines).toEqual([
      '  - "B=arrived": code B is mapped twice',
      '  - "X=seen": unknown FHIR status "seen" (expected one of booked, arrived, fulfilled, noshow, cancelled)',
      '  - "Y": expected CODE=status',
      '  - "S=fulfilled:patient": only cancelled may say who cancelled, as cancelled:patient or cancelled:hospital',
      `  - "Q'=cancelled": the code must be 1 to 10 letters or digits`,
      '  - no code is mapped to cancelled:patient (a cancel through the API needs one to write)',
    ]);
    expect(() => parseStatusMapping('')).toThrow(/empty/);
  });
});

describe('temporary hospital numbers', () => {
  it('use a configurable prefix and width', () => {
    expect(temporaryHospitalNumber({ prefix: 'T', width: 10 }, 42)).toBe('T000000042');
    expect(temporaryHospitalNumber({ prefix: 'NHSB', width: 10 }, 42)).toBe('NHSB000042');
    expect(temporaryHospitalNumber({ prefix: '', width: 8 }, 1234)).toBe('00001234');
    expect(() => temporaryHospitalNumber({ prefix: 'NHSB', width: 8 }, 123456)).toThrow(/does not fit/);
    expect(() => checkHospitalNumberFormat({ prefix: 'T-', width: 10 })).toThrow(/letters and digits/);
    expect(() => checkHospitalNumberFormat({ prefix: 'ABCDEFGH', width: 10 })).toThrow(/width/);
    // PATIENT.HOSP_NO is CHAR(10): nothing longer.
    expect(() => checkHospitalNumberFormat({ prefix: 'T', width: 11 })).toThrow(/HOSP_NO is CHAR\(10\)/);
    expect(checkHospitalNumberFormat({ prefix: 'T', width: 10 })).toEqual({ prefix: 'T', width: 10 });
  });

  it('offer a bounded, fixed list of numbers, its own first, never one another patient is offered', () => {
    const format = { prefix: 'T', width: 10 };
    const offered = temporaryHospitalNumbers(format, 42);
    expect(offered).toHaveLength(HOSPITAL_NUMBER_TRIES);
    expect(offered[0]).toBe('T000000042');
    expect(offered[1]).toBe('T999999579');
    expect(temporaryHospitalNumbers(format, 42)).toEqual(offered);
    const all = Array.from({ length: 2000 }, (_, id) => temporaryHospitalNumbers(format, id + 1)).flat();
    expect(new Set(all).size).toBe(all.length);
    expect(all.every((n) => /^T\d{9}$/.test(n))).toBe(true);
    // A narrow format still offers its own number, and only numbers that fit.
    expect(temporaryHospitalNumbers({ prefix: 'NHSB', width: 8 }, 999)[0]).toBe('NHSB0999');
    expect(temporaryHospitalNumbers({ prefix: 'NHSB', width: 8 }, 999).every((n) => n.length === 8)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// A stand-in for mssql's pool: records every batch, answers from a script.

interface Sent {
  /** query: tedious execSql, i.e. sp_executesql; batch: execSqlBatch, a plain batch. */
  via: 'query' | 'batch';
  text: string;
  inputs: Record<string, { type: unknown; value: unknown }>;
  outputs: string[];
}

function fakePool(answer: (text: string) => { recordsets?: Record<string, unknown>[][]; output?: Record<string, unknown> } | Error, fail: { commit?: boolean; rollback?: boolean } = {}) {
  const sent: Sent[] = [];
  const events: string[] = [];
  const connection = {
    closed: false,
    hasError: false,
    close() {
      this.closed = true;
      events.push('connection closed');
    },
  };
  const request = () => {
    const s: Sent = { via: 'query', text: '', inputs: {}, outputs: [] };
    const r = {
      input(name: string, type: unknown, value: unknown) {
        s.inputs[name] = { type, value };
        return r;
      },
      output(name: string) {
        s.outputs.push(name);
        return r;
      },
      async query(text: string) {
        s.text = text;
        sent.push(s);
        const a = answer(text);
        if (a instanceof Error) throw a;
        const recordsets = a.recordsets ?? [[]];
        return { recordset: recordsets[0], recordsets, output: a.output ?? {} };
      },
      async batch(text: string) {
        s.via = 'batch';
        return r.query(text);
      },
    };
    return r;
  };
  const tx = {
    _acquiredConnection: null as typeof connection | null,
    async begin() {
      events.push('begin');
      tx._acquiredConnection = connection;
    },
    request,
    async commit() {
      events.push('commit');
      if (fail.commit) throw Object.assign(new Error('commit failed'), { code: 'ESOCKET' });
    },
    async rollback() {
      events.push('rollback');
      if (fail.rollback) throw new Error('rollback failed');
    },
  };
  const pool = { transaction: () => tx, request, close: async () => undefined };
  return { pool: pool as unknown as sql.ConnectionPool, sent, events, connection };
}

const preambleAnswer = (trancount: number) => (text: string) => (text.includes('@@TRANCOUNT') ? { recordsets: [[{ trancount }]] } : { recordsets: [[]] });

describe('SQL Server transactions (MssqlDatabase)', () => {
  it('set XACT_ABORT ON and a lock timeout and check @@TRANCOUNT right after BEGIN, before any work', async () => {
    expect(transactionPreamble(5000)).toBe('SET XACT_ABORT ON; SET LOCK_TIMEOUT 5000; SELECT @@TRANCOUNT AS TRANCOUNT;');
    expect(() => transactionPreamble(1.5)).toThrow();
    const { pool, sent, events } = fakePool(preambleAnswer(1));
    const db = new MssqlDatabase(pool, 2500);
    expect(await db.transaction(async (s) => commit(await s.execute('UPDATE T SET A = 1')))).toBe(-1);
    // As a plain batch: SET options set inside sp_executesql (every query() with or without
    // parameters) are restored when it returns, so they would never reach the statements after it.
    expect(sent[0]).toMatchObject({ via: 'batch', text: 'SET XACT_ABORT ON; SET LOCK_TIMEOUT 2500; SELECT @@TRANCOUNT AS TRANCOUNT;' });
    expect(sent[1]).toMatchObject({ via: 'query' });
    expect(events).toEqual(['begin', 'commit']);
  });

  it("cut the lock timeout to the time left before the write's deadline", async () => {
    const lockTimeout = async (deadline: number) => {
      const { pool, sent } = fakePool(preambleAnswer(1));
      await new MssqlDatabase(pool, 2500).transaction(async () => commit(undefined), { deadline });
      return Number(/SET LOCK_TIMEOUT (\d+);/.exec(sent[0]?.text ?? '')?.[1]);
    };
    expect(await lockTimeout(Date.now() + 600_000)).toBe(2500);
    const near = await lockTimeout(Date.now() + 1000);
    expect(near).toBeGreaterThanOrEqual(0);
    expect(near).toBeLessThanOrEqual(1000);
    expect(await lockTimeout(Date.now() - 1)).toBe(0); // past it: no wait at all (the repository then rolls back)
  });

  it('never lend out again a connection whose lock timeout was cut for a deadline: SET LOCK_TIMEOUT outlives the transaction', async () => {
    const near = fakePool(preambleAnswer(1));
    await new MssqlDatabase(near.pool, 2500).transaction(async () => commit(undefined), { deadline: Date.now() + 1000 });
    expect(near.connection).toMatchObject({ closed: true, hasError: true });
    const failing = fakePool(preambleAnswer(1));
    await expect(new MssqlDatabase(failing.pool, 2500).transaction(async () => Promise.reject(new Error('statement failed')), { deadline: Date.now() + 1000 })).rejects.toThrow('statement failed');
    expect(failing.connection).toMatchObject({ closed: true, hasError: true });
    // With the whole configured wait, the connection goes back to the pool as usual.
    const far = fakePool(preambleAnswer(1));
    await new MssqlDatabase(far.pool, 2500).transaction(async () => commit(undefined), { deadline: Date.now() + 600_000 });
    expect(far.connection).not.toMatchObject({ closed: true });
  });

  it('discard a pooled connection that was still in a transaction, roll back, and fail transiently', async () => {
    const { pool, sent, events, connection } = fakePool(preambleAnswer(2));
    const db = new MssqlDatabase(pool, 5000);
    let ran = false;
    await expect(db.transaction(async () => commit((ran = true)))).rejects.toBeInstanceOf(TransientPasError);
    expect(ran).toBe(false);
    expect(sent).toHaveLength(1);
    expect(connection).toMatchObject({ closed: true, hasError: true });
    expect(events).toEqual(['begin', 'connection closed', 'rollback']);
  });

  it('never pool a connection whose commit failed, and report the failure', async () => {
    const { pool, connection } = fakePool(preambleAnswer(1), { commit: true });
    const db = new MssqlDatabase(pool, 5000);
    await expect(db.transaction(async () => commit('x'))).rejects.toBeInstanceOf(TransientPasError);
    expect(connection.closed).toBe(true);
  });

  it('never pool a connection whose rollback failed', async () => {
    const { pool, connection, events } = fakePool(preambleAnswer(1), { rollback: true });
    const db = new MssqlDatabase(pool, 5000);
    // An outcome other than success is rolled back explicitly; the value still stands.
    expect(await db.transaction(async () => rollback('slot-unavailable'))).toBe('slot-unavailable');
    expect(events).toEqual(['begin', 'rollback', 'connection closed']);
    expect(connection.closed).toBe(true);
  });

  it('roll back explicitly on every outcome other than success, and on any error', async () => {
    const { pool, events } = fakePool(preambleAnswer(1));
    const db = new MssqlDatabase(pool, 5000);
    await db.transaction(async () => rollback(0));
    await expect(db.transaction(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(events).toEqual(['begin', 'rollback', 'begin', 'rollback']);
  });

  it('read row counts from an output parameter set right after the statement, whatever a trigger returns', async () => {
    // A legacy AFTER trigger returning rows that look like a count.
    const { pool, sent } = fakePool((text) =>
      text.includes('@@TRANCOUNT') ? { recordsets: [[{ TRANCOUNT: 1 }]] } : { recordsets: [[{ CHANGED: 0, APPT_ID: 0 }]], output: { [ROWCOUNT_PARAM]: 1, [IDENTITY_PARAM]: 77 } },
    );
    const db = new MssqlDatabase(pool, 5000);
    const [count, id] = await db.transaction(async (s) =>
      commit([await s.execute("UPDATE CLINIC_SLOT SET SLOT_STATUS = 'B' WHERE SLOT_ID = @slot", { slot: sqlp.int(5) }), await s.insertId('INSERT INTO APPOINTMENT (X) VALUES (@x)', { x: sqlp.text('y') })]),
    );
    expect([count, id]).toEqual([1, 77]);
    expect(sent[1]?.text).toBe(`UPDATE CLINIC_SLOT SET SLOT_STATUS = 'B' WHERE SLOT_ID = @slot;\nSET @${ROWCOUNT_PARAM} = @@ROWCOUNT;`);
    expect(sent[1]?.outputs).toEqual([ROWCOUNT_PARAM]);
    expect(sent[2]?.text).toBe(`INSERT INTO APPOINTMENT (X) VALUES (@x);\nSET @${ROWCOUNT_PARAM} = @@ROWCOUNT;\nSET @${IDENTITY_PARAM} = CAST(SCOPE_IDENTITY() AS INT);`);
    expect(sent[2]?.outputs).toEqual([ROWCOUNT_PARAM, IDENTITY_PARAM]);
    expect(withRowCount('X')).toMatch(/^X;\nSET @\w+ = @@ROWCOUNT;$/);
    expect(withIdentity('X')).toMatch(/SCOPE_IDENTITY\(\)/);
  });

  it('report an INSERT … SELECT that added no row as no id, whatever SCOPE_IDENTITY() says', async () => {
    const { pool } = fakePool((text) =>
      text.includes('@@TRANCOUNT') ? { recordsets: [[{ TRANCOUNT: 1 }]] } : { recordsets: [], output: { [ROWCOUNT_PARAM]: 0, [IDENTITY_PARAM]: 76 } },
    );
    const db = new MssqlDatabase(pool, 5000);
    expect(await db.transaction(async (s) => commit(await s.insertId('INSERT INTO APPOINTMENT (X) SELECT @x FROM PATIENT WHERE 1 = 0', { x: sqlp.text('y') })))).toBeUndefined();
  });

  it('normalise result column names in one place (Babelfish may lower-case aliases)', async () => {
    const { pool } = fakePool(() => ({ recordsets: [[{ appt_id: 1, Slot_Status: 'B' }]] }));
    const db = new MssqlDatabase(pool, 5000);
    expect(await db.read((s) => s.query('SELECT APPT_ID, SLOT_STATUS FROM APPOINTMENT'))).toEqual([{ APPT_ID: 1, SLOT_STATUS: 'B' }]);
  });

  it('send written values as NVARCHAR and WHERE keys in the column type', () => {
    const inputs: Record<string, { type: { type: unknown; length?: number } }> = {};
    const request = { input: (name: string, type: { type: unknown }, _v: unknown) => (inputs[name] = { type }) } as unknown as sql.Request;
    bind(request, 'name', sqlp.text('Llŷr'));
    bind(request, 'nhs', sqlp.key('9000000009', 10));
    bind(request, 'when', sqlp.local('2026-12-01 09:00:00'));
    bind(request, 'utc', sqlp.utc('2026-12-01T09:00:00.000Z'));
    expect(inputs.name?.type.type).toBe(sql.NVarChar);
    expect(inputs.nhs?.type).toMatchObject({ type: sql.VarChar, length: 10 });
    expect(inputs.when?.type).toBe(sql.DateTime);
    expect(inputs.utc?.type.type).toBe(sql.DateTime2);
  });

  it('send a DATETIME back exactly as it was read (the Date tedious gave, to the millisecond)', () => {
    const inputs: Record<string, { type: unknown; value: unknown }> = {};
    const request = { input: (name: string, type: unknown, value: unknown) => (inputs[name] = { type, value }) } as unknown as sql.Request;
    // 08:00:00.003 is one 1/300 s tick past the second: what a clerk's GETDATE() leaves behind.
    const read = new Date('2026-12-02T08:00:00.003Z');
    bind(request, 'readStart', sqlp.asRead(read));
    expect(inputs.readStart?.type).toBe(sql.DateTime);
    expect((inputs.readStart?.value as Date).getTime()).toBe(read.getTime());
    // SQLite's text travels unchanged.
    expect(sqlp.asRead('2026-12-02 08:00:00')).toEqual({ type: 'asRead', value: '2026-12-02 08:00:00' });
  });

  it('cancel the legacy appointment only as read, and only before it starts', () => {
    const repository = read('../src/transactions/repository.ts');
    const update = /UPDATE APPOINTMENT SET APPT_STATUS = @cancelled[^`]*/.exec(repository)?.[0] ?? '';
    for (const condition of ['SLOT_ID = @slot', 'PATIENT_ID = @patient', 'APPT_STATUS = @readStatus', 'START_DTTM = @readStart', 'END_DTTM = @readEnd', 'START_DTTM > @now']) {
      expect(update).toContain(condition);
    }
  });

  it('compare legacy codes trimmed and case-insensitively', () => {
    expect(legacyCode('a.APPT_STATUS')).toBe('UPPER(LTRIM(RTRIM(a.APPT_STATUS)))');
    const repository = read('../src/transactions/repository.ts');
    const screens = read('../src/pas-screens.ts');
    for (const source of [repository, screens]) {
      // Every comparison of a status or flag column with a code goes through legacyCode(); only the
      // cancel's check that the column still holds exactly the value it read (@read…) compares it raw.
      expect(source).not.toMatch(/(WHERE|AND)\s+(\w+\.)?(APPT_STATUS|SLOT_STATUS|ACTIVE_FLAG)\s*(=(?!\s*@read)|<>|IN|NOT)/);
    }
  });
});

describe('the product schema leaves the trust tables alone', () => {
  it('has no foreign key from booking tables onto the legacy APPOINTMENT table, and drops an old one', () => {
    const booking = read('../../../docker/pas/02-booking-schema.sql').replace(/--.*$/gm, '');
    expect(booking).not.toMatch(/REFERENCES dbo\.APPOINTMENT/);
    expect(booking).toMatch(/ALTER TABLE booking\.FHIR_APPOINTMENT DROP CONSTRAINT/);
    const sqlite = read('../sql/sqlite-schema.sql').replace(/--.*$/gm, '');
    expect(sqlite).not.toMatch(/REFERENCES APPOINTMENT/);
  });
});

describe('the shared repository', () => {
  /** A database that records whether each transaction asked to commit. */
  function recording(inner: PasDatabase): { db: PasDatabase; outcomes: boolean[] } {
    const outcomes: boolean[] = [];
    return {
      outcomes,
      db: {
        dialect: inner.dialect,
        read: (work) => inner.read(work),
        isDuplicateKey: (e) => inner.isDuplicateKey(e),
        close: () => inner.close(),
        transaction: (work) =>
          inner.transaction(async (s) => {
            const outcome = await work(s);
            outcomes.push(outcome.commit);
            return outcome;
          }),
      },
    };
  }

  it('commits a booking and rolls back every refusal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pas-repo-'));
    const pas = new SqlitePas({ path: join(dir, 'pas.db') });
    try {
      const data = generateDemoData({ slotCount: 4 });
      loadDemoDataSqlite(pas.db, data);
      const { db, outcomes } = recording((pas as unknown as { database: PasDatabase }).database);
      const repository = new PasRepository(db, { clock: new LocalClock() });
      const clock = new LocalClock();
      const slot = data.slots[0] as (typeof data.slots)[number];
      const command = () => ({
        requestId: crypto.randomUUID(),
        jobId: 'j',
        appointmentId: crypto.randomUUID(),
        slotGuid: slot.SLOT_GUID,
        start: clock.toInstant(slot.START_DTTM),
        end: clock.toInstant(slot.END_DTTM),
        reason: 'r',
        patient: { family: 'X', gender: 'unknown' as const, birthDate: '1990-01-01', addressLines: [] },
        lastUpdated: new Date().toISOString(),
        buildResource: () => ({ resourceType: 'Appointment' }),
      });
      expect((await repository.book(command())).outcome).toBe('booked');
      expect((await repository.book(command())).outcome).toBe('slot-unavailable');
      expect((await repository.book({ ...command(), slotGuid: crypto.randomUUID(), slotId: '999999' })).outcome).toBe('slot-not-found');
      expect(outcomes).toEqual([true, false, false]);
    } finally {
      await pas.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
