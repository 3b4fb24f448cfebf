import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SYSTEMS } from '@booking/fhir/types';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { smoke } from '../src/commands/smoke.js';
import { EXIT } from '../src/exit-codes.js';
import { smokeTestNhsNumber } from '../src/nhs-number.js';

/**
 * smoke's cancel against a facade stand-in (in-process, milliseconds) where a PAS clerk re-links
 * the smoke booking to a real patient between smoke's read and its cancel: the cancel with the old
 * ETag meets 409, smoke re-reads, and must not PUT a real patient's appointment back cancelled.
 * The stand-in answers application/json: its bodies are the test's, not the facade's.
 */

type Json = Record<string, any>;
const SMOKE_NHS = smokeTestNhsNumber();

const appointment = (version: string, family: string, nhsNumber: string): Json => ({
  resourceType: 'Appointment',
  id: 'A1',
  meta: { versionId: version, lastUpdated: '2030-01-01T09:00:00Z' },
  status: 'booked',
  start: '2030-03-02T10:00:00+00:00',
  end: '2030-03-02T10:10:00+00:00',
  created: '2030-01-01T09:00:00Z',
  contained: [{ resourceType: 'Patient', id: 'P1', identifier: [{ system: SYSTEMS.nhsNumber, value: nhsNumber }], name: [{ family, given: ['X'] }] }],
  participant: [{ actor: { reference: '#P1' }, status: 'accepted' }],
});

/**
 * The stand-in: the booking answer is lost (500) or made (201, version 1, the smoke patient's);
 * reads after the first return version 2, re-linked to `later` (a real patient, or still smoke's).
 * A PUT with If-Match W/"1" is stale (409); any other PUT cancels.
 */
async function fakeFacade(book: 'lost' | 'made', later: { family: string; nhsNumber: string }) {
  const puts: { ifMatch?: string; family?: string; nhsNumber?: string }[] = [];
  let reads = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const send = (status: number, r: object, etag?: string) => {
        res.writeHead(status, { 'content-type': 'application/json', ...(etag ? { etag } : {}) });
        res.end(JSON.stringify(r));
      };
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path.endsWith('/metadata')) return send(200, { resourceType: 'CapabilityStatement', fhirVersion: '3.0.1', publisher: 'stand-in' });
      if (path.endsWith('/Slot')) {
        const slot = { resourceType: 'Slot', id: 'S1', status: 'free', start: '2030-03-02T10:00:00+00:00', end: '2030-03-02T10:10:00+00:00', schedule: { reference: 'Schedule/C1' } };
        return send(200, { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: slot }] });
      }
      if (req.method === 'POST') {
        if (book === 'lost') return send(500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] });
        return send(201, appointment('1', 'SMOKETEST', SMOKE_NHS), 'W/"1"');
      }
      if (req.method === 'GET' && path.endsWith('/Appointment')) {
        const summary = { resourceType: 'Appointment', id: 'A1', meta: { versionId: '1' }, status: 'booked', participant: [{ actor: { identifier: { system: SYSTEMS.nhsNumber, value: SMOKE_NHS } }, status: 'accepted' }] };
        return send(200, { resourceType: 'Bundle', type: 'searchset', total: 1, entry: [{ resource: summary }] });
      }
      if (req.method === 'GET' && path.endsWith('/Appointment/A1')) {
        reads++;
        return reads === 1 ? send(200, appointment('1', 'SMOKETEST', SMOKE_NHS), 'W/"1"') : send(200, appointment('2', later.family, later.nhsNumber), 'W/"2"');
      }
      if (req.method === 'PUT') {
        const r = JSON.parse(body) as Json;
        const patient = r.contained?.find((c: Json) => c.resourceType === 'Patient');
        puts.push({ ifMatch: req.headers['if-match'], family: patient?.name?.[0]?.family, nhsNumber: patient?.identifier?.[0]?.value });
        if (req.headers['if-match'] === 'W/"1"') return send(409, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'conflict' }] });
        return send(200, { ...r, status: 'cancelled' }, 'W/"3"');
      }
      send(404, { resourceType: 'OperationOutcome', issue: [] });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/STU3/1`, puts, close: () => server.close() };
}

async function runSmoke(baseUrl: string): Promise<{ code: number; steps: { step: string; ok: boolean; detail: string }[] }> {
  const out: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));
  try {
    const code = await smoke({ baseUrl, asid: '918999198999', fromAsid: '200000000359', service: '999999999', timeoutMs: 5000, zone: 'Europe/London', json: true });
    return { code, steps: JSON.parse(out.join('\n')).steps };
  } finally {
    spy.mockRestore();
  }
}

describe("smoke's cancel after a stale ETag", () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  const realPatient = { family: 'Smith', nhsNumber: '9434765919' };

  it("clean-up (booking answer lost): the re-read appointment is now a real patient's, so it is left alone and clean-up fails (exit 1)", async () => {
    const facade = await fakeFacade('lost', realPatient);
    close = facade.close;
    const { code, steps } = await runSmoke(facade.baseUrl);
    expect(facade.puts).toEqual([{ ifMatch: 'W/"1"', family: 'SMOKETEST', nhsNumber: SMOKE_NHS }]);
    expect(code).toBe(EXIT.FAILED);
    expect(steps.at(-1)).toMatchObject({ step: 'cleanup-cancel', ok: false, detail: expect.stringContaining('no longer a booked SMOKETEST appointment') });
  });

  it("the journey's cancel: a re-link between read and cancel stops the cancel, and clean-up does not try again", async () => {
    const facade = await fakeFacade('made', realPatient);
    close = facade.close;
    // The journey's read is the first read; the re-read after the 409 shows the real patient.
    const { code, steps } = await runSmoke(facade.baseUrl);
    expect(facade.puts).toEqual([{ ifMatch: 'W/"1"', family: 'SMOKETEST', nhsNumber: SMOKE_NHS }]);
    expect(code).toBe(EXIT.FAILED);
    expect(steps.map((s) => `${s.step} ${s.ok}`)).toEqual(['metadata true', 'search-slots true', 'book true', 'read true', 'cancel false']);
  });

  it('the same SMOKETEST patient under a real NHS number is not the smoke booking either', async () => {
    const facade = await fakeFacade('lost', { family: 'SMOKETEST', nhsNumber: realPatient.nhsNumber });
    close = facade.close;
    const { code } = await runSmoke(facade.baseUrl);
    expect(facade.puts.map((p) => p.ifMatch)).toEqual(['W/"1"']);
    expect(code).toBe(EXIT.FAILED);
  });

  it('still its own after the re-read (only the version moved): smoke cancels that version', async () => {
    const facade = await fakeFacade('lost', { family: 'SMOKETEST', nhsNumber: SMOKE_NHS });
    close = facade.close;
    const { steps } = await runSmoke(facade.baseUrl);
    expect(facade.puts.map((p) => p.ifMatch)).toEqual(['W/"1"', 'W/"2"']);
    expect(steps.at(-1)).toMatchObject({ step: 'cleanup-cancel', ok: true });
  });
});
