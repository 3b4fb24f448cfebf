import type { JsonObject, Problem, SlotSearch } from '@booking/fhir';

/**
 * The contract between facade and worker: one BullMQ queue, one job per consumer request.
 * Payloads carry only what the worker needs; replies carry what the facade needs to answer.
 */

export const BOOKING_QUEUE = 'pas-requests';

/** Consumer-facing base URL and the ids for log correlation travel with every job. */
interface JobBase {
  /** Our own X-Request-ID for this HTTP request, for logs. */
  traceRequestId: string;
}

export interface BookJob extends JobBase {
  kind: 'book';
  /** The consumer's X-Request-ID: the idempotency key. */
  requestId: string;
  /** The validated Appointment as the consumer sent it. */
  appointment: JsonObject;
}

export interface ReadJob extends JobBase {
  kind: 'read';
  appointmentId: string;
  /** Set for a vread. */
  versionId?: string;
}

export interface CancelJob extends JobBase {
  kind: 'cancel';
  /** The consumer's X-Request-ID: the idempotency key. */
  requestId: string;
  appointmentId: string;
  /** The raw If-Match header; the worker checks it after the appointment is known to exist (§18). */
  ifMatch?: string;
  /** The Appointment the consumer PUT, status cancelled. */
  appointment: JsonObject;
}

/** GET /Slot: no patient data, only the checked query and what the Bundle's URLs need. */
export interface SearchSlotJob extends JobBase {
  kind: 'search-slot';
  search: SlotSearch;
  /** The consumer-facing service root, for absolute fullUrls. */
  baseUrl: string;
  /** The request URL as received, under baseUrl: the Bundle's self link. */
  selfLink: string;
}

/** GET /Appointment?identifier=…|_id=… (spec §12): the NHS number travels sealed, like every job. */
export interface SearchAppointmentJob extends JobBase {
  kind: 'search-appointment';
  nhsNumber?: string;
  appointmentId?: string;
  baseUrl: string;
  selfLink: string;
}

export interface NoopJob extends JobBase {
  kind: 'noop';
}

export type PasJob = BookJob | ReadJob | CancelJob | SearchSlotJob | SearchAppointmentJob | NoopJob;
export type PasJobKind = PasJob['kind'];

/** A single-resource answer: the facade adds Location, ETag and Last-Modified from it. */
export interface ResourceReply {
  type: 'resource';
  status: 200 | 201;
  resource: JsonObject;
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  /**
   * The job's write had already committed in an earlier run of the same job (BullMQ re-ran it
   * after a stall while the first worker lived on): the same answer, but the worker counts and
   * logs it as a replay, not a second booking or cancellation. The facade ignores it.
   */
  replayed?: true;
}

export interface ProblemReply {
  type: 'problem';
  problem: Problem;
  /** Relative path of an existing resource the problem is about (e.g. a replayed booking). */
  contentLocation?: string;
}

/** A search result: 200, no ETag or Location. Made by `bundleReply` (codec.ts). */
export interface BundleReply {
  type: 'bundle';
  /**
   * The searchset Bundle as JSON text, serialised once and gzipped (level 1) by the worker, base64.
   * The facade sends these bytes as they are to a consumer that accepts gzip (every NHS consumer,
   * spec §3.2), inflates them for one that does not, converts them for XML. A 1,000-slot answer
   * (≈ 540 KB of JSON) is ≈ 46 KB this way, and the facade neither parses, nor copies, nor gzips it
   * again (bench/FINDINGS.md). Workers of the previous release sent the JSON text as `json`.
   */
  gzip: string;
}

export interface EmptyReply {
  type: 'empty';
}

export type WorkerReply = ResourceReply | ProblemReply | BundleReply | EmptyReply;
