#!/usr/bin/env node
/**
 * Builds adapters/fhir/careconnect-profile-rules.json: the rules of the CareConnect profiles a
 * booking body must meet, taken from the official StructureDefinitions and ValueSets in
 * ../shared/spec/profiles (NHSD.Assets.STU3 1.6.0). The facade runs without that folder (trusts
 * deploy the product, not the spec), so the rules it needs are committed in this compact form;
 * test/profile-rules.test.ts checks the committed file is what this script builds today.
 *
 * Read from each profile's differential: cardinalities (min/max), fixed values, and required
 * bindings to value sets held in ../profiles; slices discriminated by value (identifier by system,
 * name by use, extension by url), with the rules of the extension definitions held there.
 * The profiles add no invariants of their own (every constraint key is a base one, checked with
 * the base definitions).
 *
 *   node adapters/fhir/scripts/build-profile-rules.mjs [--check]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const PROFILES_DIR = process.env.PROFILES_DIR ?? resolve(here, '../../../../shared/spec/profiles');
export const OUT = resolve(here, '..', 'careconnect-profile-rules.json');
/** The profiles of what a booking (and a cancel) body carries. */
const PROFILES = ['CareConnect-Appointment-1', 'CareConnect-Patient-1', 'CareConnect-Slot-1', 'CareConnect-DocumentReference-1'];

const read = (name) => JSON.parse(readFileSync(join(PROFILES_DIR, `${name}.json`), 'utf8'));
/** A conformance resource held in ../profiles, by its canonical URL (files are named [Type-]name.json). */
const held = (url) => {
  const [kind, name] = url.split('/').slice(-2);
  const file = [name, `${kind}-${name}`].find((f) => existsSync(join(PROFILES_DIR, `${f}.json`)));
  return file ? read(file) : undefined;
};

/** The codes of a value set held in ../profiles (compose.include of whole code systems or listed codes). */
function valueSetCodes(url) {
  const vs = held(url);
  if (!vs) return undefined;
  const codes = [];
  for (const include of vs.compose?.include ?? []) {
    if (include.concept) codes.push(...include.concept.map((c) => ({ system: include.system, code: c.code })));
    else {
      const cs = held(include.system);
      if (!cs) return undefined;
      const walk = (concepts) => {
        for (const c of concepts ?? []) {
          codes.push({ system: include.system, code: c.code });
          walk(c.concept);
        }
      };
      walk(cs.concept);
    }
  }
  return codes;
}

const fixedOf = (e) => {
  const key = Object.keys(e).find((k) => k.startsWith('fixed') || k.startsWith('pattern'));
  return key ? e[key] : undefined;
};

/** Rules of one element: min, max, fixed, required binding. */
function elementRule(e) {
  const rule = {};
  if (e.min !== undefined && e.min > 0) rule.min = e.min;
  if (e.max !== undefined && e.max !== '*') rule.max = Number(e.max);
  const fixed = fixedOf(e);
  if (fixed !== undefined) rule.fixed = fixed;
  const vs = e.binding?.strength === 'required' ? e.binding.valueSetReference?.reference : undefined;
  if (vs) {
    const codes = valueSetCodes(vs);
    if (codes) rule.valueSet = { url: vs, codes };
  }
  return rule;
}

/**
 * "Patient.identifier:nhsNumber.system" → steps [{name: identifier, slice: {path: system, value}}, {name: system}].
 * A slice's discriminator value is the fixed value of its discriminating child (or, for extensions,
 * the profile URL of the slice's type).
 */
function stepsOf(id, elements, base) {
  const parts = id.split('.').slice(1);
  const steps = [];
  let prefix = id.split('.')[0];
  for (const part of parts) {
    const [name, sliceName] = part.split(':');
    const step = { name: name.replace('[x]', '') };
    const unsliced = `${prefix}.${name}`;
    prefix = `${prefix}.${part}`;
    if (sliceName) {
      const slicing = elements.find((x) => x.id === unsliced)?.slicing ?? base.find((x) => x.id === unsliced)?.slicing;
      const on = slicing?.discriminator?.[0]?.path;
      const sliceEl = elements.find((x) => x.id === prefix);
      let value;
      if (on === 'url') value = sliceEl?.type?.[0]?.profile;
      else if (on) value = fixedOf(elements.find((x) => x.id === `${prefix}.${on}`) ?? {});
      if (name === 'value[x]' || name.startsWith('value')) {
        step.name = sliceName; // value[x] sliced by type: valueCodeableConcept
      } else {
        if (value === undefined) return undefined; // a slice we cannot tell apart: left out
        step.slice = { path: on, value };
      }
    }
    steps.push(step);
  }
  return steps;
}

function rulesOf(sd) {
  const elements = sd.differential.element;
  const rules = [];
  for (const e of elements) {
    const steps = stepsOf(e.id, elements, sd.snapshot.element);
    if (!steps) continue;
    const rule = elementRule(e);
    // An extension slice brings the rules of its definition, below the slice.
    const profile = steps.at(-1)?.slice?.path === 'url' ? e.type?.[0]?.profile : undefined;
    const extension = profile ? held(profile) : undefined;
    if (Object.keys(rule).length) rules.push({ id: e.id, steps, ...rule });
    if (extension) {
      for (const x of extension.differential.element) {
        if (x.id === 'Extension' || x.id === 'Extension.url') continue;
        const sub = stepsOf(x.id, extension.differential.element, extension.snapshot.element);
        const r = elementRule(x);
        if (sub && Object.keys(r).length) rules.push({ id: `${e.id}/${x.id}`, steps: [...steps, ...sub], ...r });
      }
    }
  }
  return rules.filter((r) => r.steps.length > 0);
}

/** One profile's rules, by its file name in ../profiles (also for tests: Spine-OperationOutcome-1). */
export function profileRules(name) {
  const sd = read(name);
  return { type: sd.type, url: sd.url, rules: rulesOf(sd) };
}

export function buildRules() {
  const out = { source: 'NHSD.Assets.STU3 1.6.0 (../shared/spec/profiles), built by scripts/build-profile-rules.mjs', profiles: {} };
  for (const name of PROFILES) {
    const { type, url, rules } = profileRules(name);
    out.profiles[type] = { url, rules };
  }
  return `${JSON.stringify(out, null, 1)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = buildRules();
  if (process.argv.includes('--check')) {
    const same = existsSync(OUT) && readFileSync(OUT, 'utf8') === text;
    console.log(same ? 'up to date' : `${OUT} is out of date: run node adapters/fhir/scripts/build-profile-rules.mjs`);
    process.exit(same ? 0 : 1);
  }
  writeFileSync(OUT, text);
  console.log(`${OUT}: ${Object.values(JSON.parse(text).profiles).reduce((n, p) => n + p.rules.length, 0)} rules`);
}
