/**
 * Spine-OperationOutcome-1 builders (spec §14). Every error the product returns goes through here,
 * so the profile, code system and shape cannot drift between the facade and the worker.
 */

export const SPINE_OO_PROFILE = 'https://fhir.nhs.uk/STU3/StructureDefinition/Spine-OperationOutcome-1';
export const SPINE_ERROR_CODE_SYSTEM = 'https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1';
export const FHIR_ISSUE_TYPE_SYSTEM = 'http://hl7.org/fhir/issue-type';

/** The Spine codes this product uses, with their CodeSystem displays. */
export const SPINE_CODES = {
  BAD_REQUEST: 'Bad request',
  MESSAGE_NOT_WELL_FORMED: 'Message not well formed',
  MISSING_OR_INVALID_HEADER: 'There is a required header missing or invalid',
  INVALID_PARAMETER: 'Invalid parameter',
  INVALID_RESOURCE: 'Invalid validation of resource',
  INVALID_VALUE: 'An input field has an invalid value for its type',
  INVALID_NHS_NUMBER: 'Invalid NHS number',
  CONFLICTING_VALUES: 'Conflicting values have been specified in different fields',
  REFERENCE_NOT_FOUND: 'Reference not found',
  DUPLICATE_REJECTED: 'Create would lead to creation of a duplicate resource',
  NO_RECORD_FOUND: 'No record found',
  'ACCESS DENIED': 'Access has been denied to process this request',
  INVALID_REQUEST_STATE: 'The request exists but is not in an appropriate state for the call to succeed',
  MSG_RESOURCE_ID_FAIL: 'Client is not permitted to assign an id',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  NOT_IMPLEMENTED: 'Not implemented',
  INTERNAL_SERVER_ERROR: 'Unexpected internal server error',
  RESOURCE_CREATED: 'New resource created',
  RESOURCE_UPDATED: 'Resource has been successfully updated',
} as const;
export type SpineCode = keyof typeof SPINE_CODES;

/** FHIR issue-type codes used here. */
export type IssueType =
  | 'invalid'
  | 'structure'
  | 'value'
  | 'required'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'duplicate'
  | 'processing'
  | 'not-supported'
  | 'exception'
  | 'business-rule'
  | 'transient'
  | 'too-long'
  | 'informational';

/** A transport-neutral description of one failure: HTTP status plus what goes in the issue. */
export interface Problem {
  status: number;
  code: IssueType;
  /** Spine-ErrorOrWarningCode-1 code: a coding of every issue's details (spec §14.1), the first one unless issueTypeDisplay is set. */
  spineCode: SpineCode;
  /** A coding from FHIR's issue-type system put before the Spine one (the harness's "Processing Failure" shape, §9.4). */
  issueTypeDisplay?: string;
  diagnostics: string;
  /** The offending elements (as FHIRPath) or parameters: issue `location` (the profile has no `expression`). */
  location?: string[];
  /** Several findings (validation): one issue each, after the summary issue. */
  findings?: { expression: string; message: string }[];
}

export function problem(status: number, code: IssueType, spineCode: SpineCode, diagnostics: string, location?: string[]): Problem {
  return { status, code, spineCode, diagnostics, ...(location?.length ? { location } : {}) };
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  id: string;
  meta: { profile: string[] };
  issue: {
    severity: 'error' | 'fatal' | 'warning' | 'information';
    code: IssueType;
    details: { coding: { system: string; code: string; display: string }[] };
    diagnostics: string;
    location?: string[];
  }[];
}

export function operationOutcome(p: Problem, id: string): OperationOutcome {
  const spine = { system: SPINE_ERROR_CODE_SYSTEM, code: p.spineCode, display: SPINE_CODES[p.spineCode] };
  // KNOWN DEVIATION from Spine-OperationOutcome-1, which allows one coding, system fixed to Spine's:
  // for "Slot no longer available" spec §19 #1 decides for §9.4's issue, whose details carry the
  // issue-type coding (code processing, "Processing Failure"). That coding comes FIRST: the
  // assurance script (EB_BookAppointment.tstp) matches `issue/details/coding/system/@value` (and
  // code, display) as one string, which is the first coding's. The Spine coding follows, so a
  // consumer looking for Spine codes by system still finds its code (spineCodeOf). Only
  // slotUnavailable sets issueTypeDisplay (test/operation-outcome.test.ts holds every other outcome
  // to the profile).
  const coding: { system: string; code: string; display: string }[] = p.issueTypeDisplay ? [{ system: FHIR_ISSUE_TYPE_SYSTEM, code: p.code, display: p.issueTypeDisplay }, spine] : [spine];
  return {
    resourceType: 'OperationOutcome',
    id,
    meta: { profile: [SPINE_OO_PROFILE] },
    issue: [
      {
        severity: 'error',
        code: p.code,
        details: { coding },
        diagnostics: printable(p.diagnostics),
        // `location` only: Spine-OperationOutcome-1 has issue.expression max 0.
        ...(p.location ? { location: p.location.map(printable) } : {}),
      },
      // One issue per finding, each naming its element.
      ...(p.findings ?? []).map((f) => ({
        severity: 'error' as const,
        code: p.code,
        details: { coding },
        diagnostics: printable(`${f.expression}: ${f.message}`),
        location: [printable(f.expression)],
      })),
    ],
  };
}

/**
 * The Spine code of an OperationOutcome's first issue, found by its system (the slot-taken 422 puts
 * the issue-type coding first), else that issue's first coding, else its issue type.
 */
export function spineCodeOf(outcome: unknown): string | undefined {
  const issue = (outcome as { issue?: { code?: unknown; details?: { coding?: { system?: unknown; code?: unknown }[] } }[] } | null)?.issue?.[0];
  const coding = Array.isArray(issue?.details?.coding) ? issue.details.coding : [];
  const code = (coding.find((c) => c?.system === SPINE_ERROR_CODE_SYSTEM) ?? coding[0])?.code ?? issue?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Diagnostics echo what the consumer sent (a path, a parameter, a header). FHIR strings may not hold
 * control characters, and XML 1.0 cannot hold them at all: they are shown as \uXXXX instead.
 */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A success told as an OperationOutcome (Prefer: return=OperationOutcome on create and update). */
export function informationOutcome(spineCode: 'RESOURCE_CREATED' | 'RESOURCE_UPDATED', diagnostics: string, id: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    id,
    meta: { profile: [SPINE_OO_PROFILE] },
    issue: [
      {
        severity: 'information',
        code: 'informational',
        details: { coding: [{ system: SPINE_ERROR_CODE_SYSTEM, code: spineCode, display: SPINE_CODES[spineCode] }] },
        diagnostics,
      },
    ],
  };
}

/** Common problems, named for what the caller did. */
export const problems = {
  badRequest: (diagnostics: string, location?: string[]) => problem(400, 'invalid', 'BAD_REQUEST', diagnostics, location),
  notWellFormed: (diagnostics: string) => problem(400, 'structure', 'MESSAGE_NOT_WELL_FORMED', diagnostics),
  invalidHeader: (diagnostics: string) => problem(400, 'invalid', 'MISSING_OR_INVALID_HEADER', diagnostics),
  invalidParameter: (diagnostics: string, location?: string[]) => problem(400, 'invalid', 'INVALID_PARAMETER', diagnostics, location),
  forbidden: (diagnostics: string) => problem(403, 'forbidden', 'ACCESS DENIED', diagnostics),
  notFound: (diagnostics: string) => problem(404, 'not-found', 'NO_RECORD_FOUND', diagnostics),
  methodNotAllowed: (diagnostics: string) => problem(405, 'not-supported', 'NOT_IMPLEMENTED', diagnostics),
  versionConflict: (diagnostics: string) => problem(409, 'conflict', 'CONFLICTING_VALUES', diagnostics),
  duplicate: (diagnostics: string) => problem(409, 'duplicate', 'DUPLICATE_REJECTED', diagnostics),
  preconditionRequired: (diagnostics: string) => problem(412, 'invalid', 'MISSING_OR_INVALID_HEADER', diagnostics),
  payloadTooLarge: (diagnostics: string) => problem(413, 'too-long', 'BAD_REQUEST', diagnostics),
  unsupportedMediaType: (diagnostics: string) => problem(415, 'not-supported', 'UNSUPPORTED_MEDIA_TYPE', diagnostics),
  invalidResource: (diagnostics: string, location?: string[]) => problem(422, 'invalid', 'INVALID_RESOURCE', diagnostics, location),
  invalidNhsNumber: (diagnostics: string, location?: string[]) => problem(422, 'invalid', 'INVALID_NHS_NUMBER', diagnostics, location),
  // The slot exists but is no longer free: the harness's issue-type coding, then "not in an appropriate state".
  slotUnavailable: (): Problem => ({ ...problem(422, 'processing', 'INVALID_REQUEST_STATE', 'Slot no longer available'), issueTypeDisplay: 'Processing Failure' }),
  referenceNotFound: (diagnostics: string) => problem(422, 'invalid', 'REFERENCE_NOT_FOUND', diagnostics),
  invalidState: (diagnostics: string) => problem(422, 'business-rule', 'INVALID_REQUEST_STATE', diagnostics),
  cancelChangesOtherFields: (diagnostics: string, location?: string[]) => problem(422, 'business-rule', 'CONFLICTING_VALUES', diagnostics, location),
  internal: (diagnostics: string) => problem(500, 'exception', 'INTERNAL_SERVER_ERROR', diagnostics),
  outcomeUnknown: (diagnostics: string) => problem(500, 'transient', 'INTERNAL_SERVER_ERROR', diagnostics),
} as const;
