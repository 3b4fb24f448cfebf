import { randomUUID } from 'node:crypto';
import { problems } from '@booking/fhir';
import type { PasJob } from '@booking/queue';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import type { JobRunner } from '../src/job-runner.js';
import { jsonDepth, jsonDepthProblem, MAX_JSON_DEPTH } from '../src/security/json-depth.js';

/** Deep JSON and prototype pollution, in process (the e2e and fuzz suites cover them over HTTP). */

describe('jsonDepth', () => {
  it.each([
    ['1', 0],
    ['{}', 1],
    ['[[[]]]', 3],
    ['{"a":[{"b":{}}]}', 4],
    ['{"a":"[[[[[[{{{{"}', 1],
    ['{"a":"\\"[[[[["}', 1],
    ['{"a":"\\\\"}', 1],
    ['[{"x":"]]]]"},[[1]]]', 3],
  ])('%s → %i', (text, depth) => {
    expect(jsonDepth(text)).toBe(depth);
  });

  it('stops scanning once over the limit and answers 400 MESSAGE_NOT_WELL_FORMED', () => {
    const deep = `${'['.repeat(500_000)}${']'.repeat(500_000)}`;
    expect(jsonDepth(deep, MAX_JSON_DEPTH)).toBe(MAX_JSON_DEPTH + 1);
    expect(jsonDepthProblem(deep)).toMatchObject({ status: 400, spineCode: 'MESSAGE_NOT_WELL_FORMED' });
    expect(jsonDepthProblem(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)).toBeUndefined();
  });
});

const BASE = 'http://facade.test/STU3/1';
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function jwt(scope: string) {
  const iat = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({
    iss: 'https://consumer.example.nhs.uk/',
    sub: '1',
    aud: BASE,
    iat,
    exp: iat + 300,
    reason_for_request: 'directcare',
    requested_scope: scope,
    requesting_device: { resourceType: 'Device', identifier: [{ system: 'https://c.example/device', value: 'd' }], model: 'm', version: '1' },
    requesting_organization: { resourceType: 'Organization', name: 'Org', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RYA' }] },
  })}.`;
}

function inProcessApp() {
  const jobs: PasJob[] = [];
  const queue = {
    run: async (job: PasJob) => {
      jobs.push(job);
      return { type: 'problem', problem: problems.referenceNotFound('no such slot') };
    },
  } as JobRunner;
  const app = createApp({
    baseUrl: BASE,
    basePath: '/STU3/1',
    providerAsid: '200000000359',
    clockSkewSeconds: 60,
    maxBodyBytes: 1024 * 1024,
    jobTimeoutMs: 1000,
    publisher: 'test',
    softwareName: 'test',
    jobs: queue,
  });
  const book = (body: string) =>
    app.request(`${BASE}/Appointment`, {
      method: 'POST',
      body,
      headers: {
        Authorization: `Bearer ${jwt('patient/appointment.write')}`,
        'Ssp-TraceID': randomUUID(),
        'Ssp-From': '200000000115',
        'Ssp-To': '200000000359',
        'Ssp-InteractionID': 'urn:nhs:names:services:careconnect:fhir:rest:create:appointment',
        'X-Request-ID': randomUUID(),
        'Content-Type': 'application/fhir+json',
      },
    });
  return { app, jobs, book };
}

describe('request bodies', () => {
  it('refuses JSON nested deeper than 64 levels with 400 before it reaches the booking checks or the queue', async () => {
    const { book, jobs } = inProcessApp();
    const res = await book(`{"resourceType":"Appointment","extension":${'['.repeat(100)}${']'.repeat(100)}}`);
    expect(res.status).toBe(400);
    const oo = (await res.json()) as any;
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(oo.issue[0].details.coding[0].code).toBe('MESSAGE_NOT_WELL_FORMED');
    expect(oo.issue[0].diagnostics).toMatch(/deeper than 64/);
    expect(jobs).toHaveLength(0);
  });

  it('"__proto__" and "constructor.prototype" keys pollute no prototype, at any depth', async () => {
    const { book } = inProcessApp();
    const pollution = { polluted: 'yes', location: ['POLLUTED'], spineCode: 'POLLUTED' };
    const bodies = [
      `{"__proto__": ${JSON.stringify(pollution)}, "resourceType": "Appointment"}`,
      `{"resourceType": "Appointment", "constructor": {"prototype": ${JSON.stringify(pollution)}}}`,
      `{"resourceType": "Appointment", "contained": [{"resourceType": "Patient", "__proto__": ${JSON.stringify(pollution)}}], "participant": [{"actor": {"__proto__": {"polluted": "yes"}}}]}`,
      `[{"__proto__": {"polluted": "yes"}}]`,
    ];
    for (const body of bodies) {
      const res = await book(body);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(await res.text()).not.toContain('POLLUTED');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect((Object.prototype as Record<string, unknown>).location).toBeUndefined();
  });
});
