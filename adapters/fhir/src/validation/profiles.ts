import { readFileSync } from 'node:fs';
import type { Finding } from './base.js';

/**
 * The CareConnect profile rules (careconnect-profile-rules.json, built from the official profiles by
 * scripts/build-profile-rules.mjs): profile cardinalities, fixed values and required bindings,
 * within value-discriminated slices (Patient.identifier by system, Patient.name by use, extensions
 * by url). Applied by resource type: a booking's Appointment and its contained Patient, Slot and
 * DocumentReference must meet their CareConnect profiles whatever meta.profile says (spec §9.1).
 */

interface Step {
  name: string;
  slice?: { path: string; value: unknown };
}
interface Rule {
  id: string;
  steps: Step[];
  min?: number;
  max?: number;
  fixed?: unknown;
  valueSet?: { url: string; codes: { system: string; code: string }[] };
}
interface Rules {
  profiles: Record<string, { url: string; rules: Rule[] }>;
}

let loaded: Rules | undefined;
const rules = (): Rules => {
  loaded ??= JSON.parse(readFileSync(new URL('../../careconnect-profile-rules.json', import.meta.url), 'utf8')) as Rules;
  return loaded;
};

/** The profile this product validates a resource type against, if any. */
export function profileFor(resourceType: string): string | undefined {
  return rules().profiles[resourceType]?.url;
}

type Node = { value: unknown; at: string };

export function validateProfile(resource: Record<string, unknown>, at: string): Finding[] {
  const profile = rules().profiles[String(resource.resourceType)];
  return profile ? checkProfile(resource, at, profile) : [];
}

/** A resource against one profile's rules (as scripts/build-profile-rules.mjs builds them). */
export function checkProfile(resource: Record<string, unknown>, at: string, profile: { url: string; rules: Rule[] }): Finding[] {
  const findings: Finding[] = [];
  for (const rule of profile.rules) {
    let parents: Node[] = [{ value: resource, at }];
    for (const step of rule.steps.slice(0, -1)) parents = parents.flatMap((p) => select(p, step));
    const last = rule.steps.at(-1) as Step;
    const label = `${profile.url.split('/').pop()} ${rule.id}`;
    for (const parent of parents) {
      const items = select(parent, last);
      const where = `${parent.at}.${last.name}`;
      if (rule.min !== undefined && items.length < rule.min) findings.push({ expression: where, message: `${label}: at least ${rule.min} required${last.slice ? ` with ${last.slice.path} ${JSON.stringify(last.slice.value)}` : ''}` });
      if (rule.max !== undefined && items.length > rule.max) findings.push({ expression: where, message: `${label}: at most ${rule.max} allowed` });
      for (const item of items) {
        if (rule.fixed !== undefined && JSON.stringify(item.value) !== JSON.stringify(rule.fixed)) findings.push({ expression: item.at, message: `${label}: must be ${JSON.stringify(rule.fixed)}` });
        if (rule.valueSet && !inValueSet(item.value, rule.valueSet.codes)) findings.push({ expression: item.at, message: `${label}: must use a code from ${rule.valueSet.url}` });
      }
    }
  }
  return findings;
}

function select(parent: Node, step: Step): Node[] {
  if (!isRecord(parent.value)) return [];
  const raw = parent.value[step.name];
  const items = (Array.isArray(raw) ? raw.map((v, i) => ({ value: v, at: `${parent.at}.${step.name}[${i}]` })) : raw === undefined ? [] : [{ value: raw, at: `${parent.at}.${step.name}` }]);
  return step.slice ? items.filter((i) => isRecord(i.value) && JSON.stringify(i.value[(step.slice as { path: string }).path]) === JSON.stringify((step.slice as { value: unknown }).value)) : items;
}

function inValueSet(value: unknown, codes: { system: string; code: string }[]): boolean {
  const codings = isRecord(value) && Array.isArray(value.coding) ? value.coding : [value];
  return codings.some((c) => (isRecord(c) ? codes.some((k) => k.system === c.system && k.code === c.code) : codes.some((k) => k.code === c)));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
