import { bookingAppointment, type ConsumerIdentity, type InteractionName, sspHeaders, unsignedJwt } from '@booking/cli/consumer';
import { problems, toXml } from '@booking/fhir';
import type { PasJob, WorkerReply } from '@booking/queue';
import { type AppOptions, createApp } from '../src/app.js';
import type { JobRunner } from '../src/job-runner.js';

/** The consumer API in process, with a JobRunner that records each job and answers from a script. */

export const BASE = 'http://facade.test/STU3/1';
export const PROVIDER_ASID = '200000000359';
const WHO: ConsumerIdentity = {
  iss: 'https://consumer.example.nhs.uk/',
  sub: '10019',
  device: { system: 'https://consumer.example.nhs.uk/Id/device', value: 'test-device', model: 'Test Consumer' },
  organization: { name: 'Test 111 Service', ods: 'RYA' },
};

export function headersFor(interaction: InteractionName, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const all: Record<string, string | undefined> = { ...sspHeaders({ audience: BASE, interaction, toAsid: PROVIDER_ASID, fromAsid: '200000000115', who: WHO }), ...overrides };
  return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
}

/** `Authorization` for the test consumer's token with another scope or claims (e.g. a bogus `aud`). */
export function bearerWith(scope: string, claims: Record<string, unknown> = {}): string {
  return `Bearer ${unsignedJwt(BASE, scope, WHO, claims)}`;
}

export const SLOT = { id: '1001', identifier: '0d0c9b0e-8e6d-4b63-9a6c-2f1e4f6f5b1a', schedule: 'Schedule/1', start: '2030-01-01T10:00:00.000Z', end: '2030-01-01T10:30:00.000Z' };

/** A valid Booking API Appointment (from the product's consumer kit). */
export function booking(): Record<string, any> {
  return bookingAppointment(
    SLOT,
    {
      nhsNumber: '9658218873',
      prefix: 'Mrs',
      given: ['Jane'],
      family: 'Bloggs',
      gender: 'female',
      birthDate: '1970-01-01',
      phone: '01234 567890',
      address: { line: ['1 High Street'], city: 'Leeds', postalCode: 'LS1 1AA' },
    },
    'Reason for calling',
  ) as Record<string, any>;
}

/** What a worker would store and answer for a booking: the body with id and version. */
export function stored(body: Record<string, any>, versionId = '1', status = 'booked') {
  return { ...body, id: 'a1', meta: { ...body.meta, versionId, lastUpdated: '2030-01-01T09:00:00.000Z' }, status };
}

export function inProcessApp(reply: (job: PasJob) => WorkerReply | Promise<WorkerReply> = () => ({ type: 'problem', problem: problems.referenceNotFound('no such slot') }), extra: Partial<AppOptions> = {}) {
  const jobs: PasJob[] = [];
  const runner: JobRunner = {
    run: async (job) => {
      jobs.push(job);
      return reply(job);
    },
  };
  const app = createApp({
    baseUrl: BASE,
    basePath: '/STU3/1',
    providerAsid: PROVIDER_ASID,
    clockSkewSeconds: 60,
    maxBodyBytes: 64 * 1024,
    jobTimeoutMs: 1000,
    publisher: 'test',
    softwareName: 'test',
    jobs: runner,
    ...extra,
  });
  const call = (method: string, path: string, interaction: InteractionName, body?: string, headers: Record<string, string | undefined> = {}) =>
    app.request(`${BASE}${path}`, { method, ...(body !== undefined ? { body } : {}), headers: headersFor(interaction, { ...(body !== undefined ? { 'Content-Type': 'application/fhir+json' } : {}), ...headers }) });
  const book = (body: unknown, headers: Record<string, string | undefined> = {}) => call('POST', '/Appointment', 'book', typeof body === 'string' ? body : JSON.stringify(body), headers);
  const bookXml = (body: object, headers: Record<string, string | undefined> = {}) => call('POST', '/Appointment', 'book', toXml(body), { 'Content-Type': 'application/fhir+xml', Accept: 'application/fhir+json', ...headers });
  return { app, jobs, call, book, bookXml };
}

/** A created (201) or updated (200) resource reply. */
export function resourceReply(resource: Record<string, any>, status: 200 | 201): WorkerReply {
  return { type: 'resource', status, resourceType: 'Appointment', id: resource.id, versionId: resource.meta.versionId, lastUpdated: resource.meta.lastUpdated, resource } as WorkerReply;
}
