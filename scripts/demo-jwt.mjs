#!/usr/bin/env node
// Prints a fresh unsigned SSP-style JWT for the demo (valid 5 minutes, as the Booking Standard requires).
// Usage: node scripts/demo-jwt.mjs <scope> [audience]
const [scope = 'patient/appointment.write', audience = process.env.DEMO_BASE_URL ?? 'http://127.0.0.1:8080/STU3/1'] = process.argv.slice(2);
const iat = Math.floor(Date.now() / 1000);
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
const payload = {
  iss: 'https://demo-consumer.example.nhs.uk/',
  sub: 'demo-user',
  aud: audience,
  exp: iat + 300,
  iat,
  reason_for_request: 'directcare',
  requested_scope: scope,
  requesting_device: { resourceType: 'Device', identifier: [{ system: 'https://demo-consumer.example.nhs.uk/Id/device', value: 'demo' }], model: 'Demo consumer', version: '1.0' },
  requesting_organization: { resourceType: 'Organization', name: 'Demo 111 Service', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'DEMO1' }] },
};
process.stdout.write(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`);
