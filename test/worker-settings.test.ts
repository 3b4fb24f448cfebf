import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../apps/worker/src/config.js';
import { configErrorOf } from './support/config-errors.js';

/** Worker settings that shape what consumers see. */

const keys = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

describe('SCHEDULE_ID_SYSTEM', () => {
  it('defaults to the placeholder system, takes a trust\'s own absolute URI, and refuses anything else', () => {
    expect(loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys }).SCHEDULE_ID_SYSTEM).toBe('https://fhir.example-trust.nhs.uk/Id/clinic-code');
    for (const system of ['https://fhir.nhs.trust.example/Id/clinic-code', 'urn:oid:2.16.840.1.113883.2.1.3.2.4.18.99']) {
      expect(loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, SCHEDULE_ID_SYSTEM: system }).SCHEDULE_ID_SYSTEM).toBe(system);
    }
    for (const bad of ['clinic-code', '/Id/clinic-code', 'https://a trust/Id']) {
      expect(configErrorOf(() => loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, SCHEDULE_ID_SYSTEM: bad }))).toMatch(/^SCHEDULE_ID_SYSTEM: /);
    }
  });
});

describe('PAS_TIMEZONE', () => {
  it('refuses a zone the runtime does not know, in the schema doctor and the worker share', () => {
    expect(loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, PAS_TIMEZONE: 'Europe/Belfast' }).PAS_TIMEZONE).toBe('Europe/Belfast');
    expect(configErrorOf(() => loadWorkerConfig({ QUEUE_ENCRYPTION_KEYS: keys, PAS_TIMEZONE: 'Europe/Londn' }))).toMatch(/^PAS_TIMEZONE: unknown time zone\b.*; got "Europe\/Londn"$/);
  });
});
