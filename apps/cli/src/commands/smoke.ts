import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client, type FhirResource, type RequestOptions } from 'fhir-kit-client';
import { DateTime } from 'luxon';
import { Agent, setGlobalDispatcher } from 'undici';
import { SYSTEMS } from '@booking/fhir/types';
import { bookingAppointment, type ConsumerIdentity, type InteractionName, sspHeaders, unsignedJwt } from '../consumer.js';
import { CliError, EXIT, type ExitCode } from '../exit-codes.js';
import { isValidNhsNumber, smokeTestNhsNumber } from '../nhs-number.js';

/**
 * The real consumer journey against a deployed facade, as the SSP would send it: metadata, slot
 * search with includes, book the first free slot for a clearly marked test patient, read it,
 * cancel it with its ETag, and see the slot free again. Whatever fails, what was booked is cancelled.
 */

export interface SmokeOptions {
  baseUrl: string;
  /** The JWT aud: the service root as published in SDS (unset or empty: --base-url). */
  audience?: string;
  /** Ssp-To: the provider's ASID. */
  asid: string;
  /** Ssp-From: the consumer's ASID. */
  fromAsid: string;
  service: string;
  nhsNumber?: string;
  cert?: string;
  key?: string;
  ca?: string;
  timeoutMs: number;
  zone: string;
  json: boolean;
}

type Json = Record<string, any>;

/** One request's result: the resource and response, or what went wrong. */
interface Outcome {
  resource?: Json;
  response?: Response;
  status?: number;
  ms: number;
  error?: string;
  /** True when no HTTP answer came at all. */
  network?: boolean;
}

interface Step {
  step: string;
  ok: boolean;
  status?: number;
  ms: number;
  detail: string;
}

export const SMOKE_FAMILY = 'SMOKETEST';

/** The smoke test introduces itself honestly in its JWT. */
const SMOKE_CONSUMER: ConsumerIdentity = {
  iss: 'https://booking-facade-smoke.invalid/',
  sub: 'smoke-test',
  device: { system: 'https://booking-facade-smoke.invalid/Id/device', value: 'booking-facade-smoke', model: 'booking-facade smoke' },
  organization: { name: 'Smoke test (booking-facade CLI)', ods: 'SMOKE' },
  practitioner: { family: SMOKE_FAMILY, given: 'Smoke' },
};

/** An unsigned SSP JWT (spec §5) as the smoke test sends it. */
export function sspJwt(audience: string, scope: string): string {
  return unsignedJwt(audience, scope, SMOKE_CONSUMER);
}

export async function smoke(options: SmokeOptions): Promise<ExitCode> {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  try {
    new URL(baseUrl);
  } catch {
    throw new CliError(EXIT.USAGE, `--base-url: not a URL: ${options.baseUrl}`);
  }
  const nhsNumber = options.nhsNumber ?? smokeTestNhsNumber();
  if (!isValidNhsNumber(nhsNumber)) throw new CliError(EXIT.USAGE, `--nhs-number: ${nhsNumber} fails the modulus-11 check`);
  if (options.cert || options.key || options.ca) useClientTls(options);

  // An empty --audience (a shell variable that is not set, e.g. one only docker/.env defines) is none.
  const audience = options.audience?.trim() || baseUrl;
  const client = new Client({ baseUrl });
  const steps: Step[] = [];
  const log = (s: Step) => {
    steps.push(s);
    if (!options.json) console.log(`  ${s.ok ? 'PASS' : 'FAIL'}  ${s.step.padEnd(16)} ${String(s.status ?? '-').padStart(3)} ${String(s.ms).padStart(6)} ms  ${s.detail}`);
  };
  const headers = (interaction: InteractionName, extra: Record<string, string> = {}): RequestOptions => ({
    headers: {
      ...sspHeaders({ audience, interaction, toAsid: options.asid, fromAsid: options.fromAsid, who: SMOKE_CONSUMER }),
      'X-Request-ID': randomUUID(),
      ...extra,
    },
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  /** Runs one request; never throws. */
  const run = async (fn: () => Promise<FhirResource>): Promise<Outcome> => {
    const t0 = Date.now();
    try {
      const resource = (await fn()) as Json;
      const response = Client.httpFor(resource as FhirResource).response;
      return { resource, response, status: response?.status, ms: Date.now() - t0 };
    } catch (error) {
      return { ms: Date.now() - t0, ...describeError(error) };
    }
  };

  if (!options.json) console.log(`booking-facade smoke: ${baseUrl} (service ${options.service}, Ssp-To ${options.asid}, test patient ${SMOKE_FAMILY} ${nhsNumber})`);
  let unreachable = false;
  let booked: { id: string; etag?: string; resource: Json } | undefined;
  let bookUncertain = false;
  let cancelled = false;
  /** Appointments found no longer the smoke patient's: never PUT again. */
  const notSmokes = new Set<string>();
  let slot: Json | undefined;
  const window = searchWindow(options.zone);
  const slotQuery = {
    'schedule.actor:healthcareservice': options.service,
    status: 'free',
    start: [`ge${window.from}`, `le${window.to}`],
    _include: ['Slot:schedule', 'HealthcareService:providedBy'],
    '_include:iterate': ['Schedule:actor:Practitioner', 'Schedule:actor:PractitionerRole', 'Schedule:actor:HealthcareService', 'HealthcareService:location'],
  };

  // biome-ignore lint/suspicious/noConfusingLabels: the journey stops at its first failed step, then always cleans up below
  journey: {
    // 1. metadata
    const meta = await run(() => client.capabilityStatement(headers('metadata')));
    if (meta.resource?.resourceType !== 'CapabilityStatement') {
      unreachable = meta.network === true;
      log({ step: 'metadata', ok: false, status: meta.status, ms: meta.ms, detail: meta.error ?? `expected a CapabilityStatement, got ${meta.resource?.resourceType}` });
      break journey;
    }
    log({ step: 'metadata', ok: true, status: meta.status, ms: meta.ms, detail: `CapabilityStatement (${meta.resource.publisher ?? 'no publisher'}, FHIR ${meta.resource.fhirVersion})` });

    // 2. slot search, tomorrow 00:00 → +4 days 00:00 local (the assurance window)
    const search = await run(() => client.search({ resourceType: 'Slot', searchParams: slotQuery, options: headers('searchSlot') }));
    const entries: Json[] = (search.resource?.entry ?? []).map((e: Json) => e.resource);
    const slots = entries.filter((r) => r?.resourceType === 'Slot' && r.status === 'free').sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
    slot = slots[0];
    if (search.resource?.resourceType !== 'Bundle' || !slot) {
      log({ step: 'search-slots', ok: false, status: search.status, ms: search.ms, detail: search.error ?? `no free slot for service ${options.service} between ${window.from} and ${window.to}` });
      break journey;
    }
    const included = [...new Set(entries.filter((r) => r?.resourceType !== 'Slot').map((r) => r.resourceType))].sort();
    log({ step: 'search-slots', ok: true, status: search.status, ms: search.ms, detail: `${slots.length} free slot(s), includes ${included.join(', ') || 'none'}; first Slot/${slot.id} at ${slot.start}` });

    // 3. book it for the test patient
    const bookResult = await run(() => client.create({ resourceType: 'Appointment', body: bookingBody(slot as Json, nhsNumber) as FhirResource, options: headers('book', { 'Content-Type': 'application/fhir+json' }) }));
    if (bookResult.status !== 201 || !bookResult.resource?.id) {
      // No answer, or a server error: the booking may have been made all the same.
      bookUncertain = bookResult.status === undefined || bookResult.status >= 500;
      log({ step: 'book', ok: false, status: bookResult.status, ms: bookResult.ms, detail: bookResult.error ?? 'no Appointment id in the answer' });
      break journey;
    }
    booked = { id: bookResult.resource.id, etag: bookResult.response?.headers.get('etag') ?? undefined, resource: bookResult.resource };
    log({ step: 'book', ok: true, status: 201, ms: bookResult.ms, detail: `Appointment/${booked.id} ${booked.etag ?? '(no ETag)'}, Location ${bookResult.response?.headers.get('location') ?? '(none)'}` });

    // 4. read it back
    const read = await run(() => client.read({ resourceType: 'Appointment', id: booked!.id, options: headers('read') }));
    const readEtag = read.response?.headers.get('etag') ?? undefined;
    if (read.status !== 200 || read.resource?.status !== 'booked' || !readEtag) {
      log({ step: 'read', ok: false, status: read.status, ms: read.ms, detail: read.error ?? `status ${read.resource?.status}, ETag ${readEtag ?? 'missing'}` });
      break journey;
    }
    booked = { ...booked, etag: readEtag, resource: read.resource };
    log({ step: 'read', ok: true, status: 200, ms: read.ms, detail: `status booked, ETag ${readEtag}` });

    // 5. cancel it with its ETag
    const cancel = await cancelAppointment(booked);
    log({ step: 'cancel', ...cancel });
    cancelled = cancel.ok;
    if (!cancel.ok) break journey;

    // 6. the slot is free again
    const again = await run(() => client.search({ resourceType: 'Slot', searchParams: slotQuery, options: headers('searchSlot') }));
    const freeAgain = (again.resource?.entry ?? []).some((e: Json) => e.resource?.resourceType === 'Slot' && e.resource.id === slot?.id && e.resource.status === 'free');
    log({ step: 'slot-free-again', ok: freeAgain, status: again.status, ms: again.ms, detail: again.error ?? (freeAgain ? `Slot/${slot.id} is free again` : `Slot/${slot.id} is not listed as free after the cancel`) });
  }

  // Clean-up: whatever failed above, leave no test booking behind.
  if (booked && !cancelled && !notSmokes.has(booked.id)) log({ step: 'cleanup-cancel', ...(await cancelAppointment(booked)) });
  if (bookUncertain) {
    const found = await run(() => client.search({ resourceType: 'Appointment', searchParams: { identifier: `${SYSTEMS.nhsNumber}|${nhsNumber}` }, options: headers('searchAppointment') }));
    // The search shows limited content (§12): each booked one is read whole, to see it is the smoke
    // patient's (never cancel a real patient's appointment) and to cancel that version.
    const leftovers: { id: string; etag?: string; resource: Json }[] = [];
    let readMs = 0;
    for (const a of (found.resource?.entry ?? []).map((e: Json) => e.resource)) {
      if (a?.resourceType !== 'Appointment' || a.status !== 'booked') continue;
      const whole = await run(() => client.read({ resourceType: 'Appointment', id: a.id, options: headers('read') }));
      readMs += whole.ms;
      if (isSmokeBooking(whole.resource)) leftovers.push({ id: a.id, etag: whole.response?.headers.get('etag') ?? undefined, resource: whole.resource as Json });
    }
    log({ step: 'cleanup-search', ok: found.status === 200, status: found.status, ms: found.ms + readMs, detail: found.error ?? `${leftovers.length} booked ${SMOKE_FAMILY} appointment(s) to cancel` });
    for (const a of leftovers) log({ step: 'cleanup-cancel', ...(await cancelAppointment(a)) });
  }

  /**
   * Still the smoke test's own booking: booked, for the SMOKETEST patient with this run's NHS number.
   * Checked on every version smoke is about to PUT back: a clerk may re-link the row to a real
   * patient at any moment, and smoke must never cancel a real patient's appointment.
   */
  function isSmokeBooking(r: Json | undefined): boolean {
    return (
      r?.status === 'booked' &&
      (r.contained ?? []).some(
        (c: Json) =>
          c?.resourceType === 'Patient' &&
          (c.name ?? []).some((n: Json) => n?.family === SMOKE_FAMILY) &&
          (c.identifier ?? []).some((i: Json) => i?.system === SYSTEMS.nhsNumber && i.value === nhsNumber),
      )
    );
  }

  /**
   * PUT the appointment back with status cancelled and If-Match; one re-read on a stale ETag. A
   * version that is no longer the smoke patient's booking is left alone and reported as a failed
   * step (clean-up incomplete: smoke exits 1).
   */
  async function cancelAppointment(appt: { id: string; etag?: string; resource: Json }, retry = true, ms = 0): Promise<Omit<Step, 'step'>> {
    if (!isSmokeBooking(appt.resource)) {
      notSmokes.add(appt.id);
      return { ok: false, ms, detail: `Appointment/${appt.id} is no longer a booked ${SMOKE_FAMILY} appointment (status ${appt.resource.status}, patient changed in the PAS?): not cancelled, check it in the PAS` };
    }
    const etag = appt.etag ?? (appt.resource.meta?.versionId ? `W/"${appt.resource.meta.versionId}"` : undefined);
    const body: FhirResource = { ...appt.resource, resourceType: 'Appointment', status: 'cancelled' };
    const r = await run(() => client.update({ resourceType: 'Appointment', id: appt.id, body, options: headers('cancel', { 'Content-Type': 'application/fhir+json', ...(etag ? { 'If-Match': etag } : {}) }) }));
    if (r.status === 409 && retry) {
      const fresh = await run(() => client.read({ resourceType: 'Appointment', id: appt.id, options: headers('read') }));
      if (fresh.resource?.status === 'cancelled') return { ok: true, status: fresh.status, ms: r.ms + fresh.ms, detail: `Appointment/${appt.id} was already cancelled` };
      if (fresh.resource) return cancelAppointment({ id: appt.id, etag: fresh.response?.headers.get('etag') ?? undefined, resource: fresh.resource }, false, r.ms + fresh.ms);
    }
    const ok = r.status === 200 && r.resource?.status === 'cancelled';
    return { ok, status: r.status, ms: ms + r.ms, detail: r.error ?? (ok ? `Appointment/${appt.id} cancelled, ETag ${r.response?.headers.get('etag') ?? '(none)'}` : `status ${r.resource?.status}`) };
  }

  const passed = steps.length > 0 && steps.every((s) => s.ok);
  const exitCode = unreachable ? EXIT.UNAVAILABLE : passed ? EXIT.OK : EXIT.FAILED;
  const total = steps.reduce((n, s) => n + s.ms, 0);
  if (options.json) console.log(JSON.stringify({ ok: passed, exitCode, baseUrl, nhsNumber, steps }, null, 2));
  else console.log(passed ? `smoke passed (${steps.length} steps, ${total} ms)` : `smoke FAILED${unreachable ? ': the facade could not be reached' : ''} \u2192 exit ${exitCode}`);
  return exitCode;
}

/** Mutual TLS for every request of this process (fhir-kit-client uses the global fetch). */
function useClientTls(options: SmokeOptions): void {
  if (Boolean(options.cert) !== Boolean(options.key)) throw new CliError(EXIT.USAGE, '--cert and --key go together');
  const read = (flag: string, path: string | undefined) => {
    if (!path) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      throw new CliError(EXIT.USAGE, `${flag}: cannot read ${path}: ${(error as Error).message}`);
    }
  };
  setGlobalDispatcher(new Agent({ connect: { cert: read('--cert', options.cert), key: read('--key', options.key), ca: read('--ca', options.ca), timeout: options.timeoutMs } }));
}

/** What went wrong, in one line; network = the request never got an HTTP answer. */
function describeError(error: unknown): { status?: number; error: string; network?: boolean } {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string }; response?: { status?: number; data?: Json } };
  if (e.response?.status) {
    const issue = e.response.data?.issue?.[0];
    const what = issue ? [issue.details?.coding?.[0]?.code, issue.diagnostics].filter(Boolean).join(': ') : '';
    return { status: e.response.status, error: `HTTP ${e.response.status}${what ? ` ${what}` : ''}` };
  }
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return { error: 'no answer in time (--timeout)', network: true };
  const cause = e.cause?.code ?? e.cause?.message;
  return { error: `${e.message ?? String(error)}${cause ? ` (${cause})` : ''}`, network: true };
}

/** Tomorrow 00:00 to +4 days 00:00 in the PAS time zone, as instants with an explicit offset. */
export function searchWindow(zone: string, now = new Date()): { from: string; to: string } {
  const tomorrow = DateTime.fromJSDate(now).setZone(zone).startOf('day').plus({ days: 1 });
  const iso = (d: DateTime) => d.toISO({ suppressMilliseconds: true }) as string;
  return { from: iso(tomorrow), to: iso(tomorrow.plus({ days: 3 })) };
}

/** A Booking API Appointment for the slot, for a patient nobody could mistake for a real one. */
export function bookingBody(slot: Json, nhsNumber: string): Json {
  const guid = (slot.identifier ?? []).find((i: Json) => i.system === SYSTEMS.rfc4122)?.value;
  return bookingAppointment(
    { id: slot.id, ...(guid ? { identifier: guid } : {}), schedule: slot.schedule?.reference, start: slot.start, end: slot.end },
    {
      nhsNumber,
      given: ['Booking', 'Facade'],
      family: SMOKE_FAMILY,
      gender: 'unknown',
      birthDate: '2000-01-01',
      phone: '01632 960000',
      address: { line: ['Smoke Test (not a real patient)'], city: 'Leeds', postalCode: 'LS1 1AA' },
    },
    'SMOKE TEST by booking-facade smoke: not a real appointment, cancelled automatically',
  );
}
