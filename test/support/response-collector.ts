import { appendFileSync } from 'node:fs';
import { afterAll, expect } from 'vitest';
import { type CollectedBody, checkBodies, SCHEMAS_DIR, schemasPresent, xmllintAvailable } from './fhir-schema.js';

/**
 * Every FHIR response body a test file receives through fetch (its own calls and fhir-kit-client's),
 * errors included, is kept; after the file's tests they are all judged against the official STU3
 * schemas and base invariants (fhir-schema.ts). Loaded for every test file by vitest.config.ts
 * (setupFiles): files that never call the facade over HTTP collect nothing and check nothing.
 * Judged per file, in the file's own process: no file depends on another.
 */

const collected = new Map<string, CollectedBody>();
const realFetch = globalThis.fetch;

globalThis.fetch = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
  const res = await realFetch(input, init);
  const contentType = res.headers.get('content-type') ?? '';
  if (/fhir\+(json|xml)/.test(contentType)) {
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const url = input instanceof Request ? input.url : String(input);
    // A copy, read alongside the test's own reading of the original.
    void res
      .clone()
      .text()
      .then((text) => {
        if (text && !collected.has(text)) collected.set(text, { what: `${method} ${url.slice(0, 160)} → ${res.status}`, contentType, text });
      })
      .catch(() => {});
  }
  return res;
};

afterAll(() => {
  if (collected.size === 0) return;
  // CI always has ../shared beside the clone; a clone on its own still runs every other check.
  if (!schemasPresent()) {
    console.warn(`Response bodies not judged: the official FHIR STU3 schemas are not at ${SCHEMAS_DIR} (../shared beside the clone)`);
    return;
  }
  if (!xmllintAvailable()) throw new Error('Cannot judge responses: xmllint (Debian libxml2-utils) is missing; run scripts/ensure-prerequisites.sh --browser');
  const failures = checkBodies([...collected.values()]);
  // All of them, for a long list (the assertion message shows the first few).
  if (failures.length && process.env.RESPONSE_FAILURES_FILE) appendFileSync(process.env.RESPONSE_FAILURES_FILE, `${failures.join('\n')}\n`);
  expect(failures, `${failures.length} problems in ${collected.size} response bodies`).toEqual([]);
}, 120_000);
