#!/usr/bin/env node
/**
 * Builds adapters/fhir/stu3-structure-definitions.json.gz: FHIR.js's parsed form of the official
 * FHIR STU3 (3.0.1) structure definitions, which src/definitions.ts loads for JSON⇄XML conversion
 * and structural validation; and adapters/fhir/stu3-validation.json.gz: the base invariants
 * (FHIRPath) and the codes of the value sets bound "required", for src/validation/.
 *
 * Why: the `fhir` package (FHIR.js 4.x) only ships parsed R4 definitions. Parsing the STU3 bundles
 * takes ~230 ms and needs ~30 MB of JSON; the committed cache (~45 KB gzipped) loads in a few ms
 * and needs no network at run time. Only the structure definitions are kept: conversion never
 * reads value sets (those matter only to FHIR.js's validator, which this product does not use).
 *
 * Definitions come from the npm tarball of fhir@3.3.1 (package/profiles/stu3/), the last FHIR.js
 * release that shipped the official STU3 bundles. Run (network needed once, for `npm pack`):
 *   node adapters/fhir/scripts/build-stu3-cache.mjs            # downloads fhir@3.3.1 via npm pack
 *   STU3_DEFS=/path/to/stu3 node adapters/fhir/scripts/...     # or use already extracted bundles
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const require = createRequire(import.meta.url);
const { ParseConformance, Versions } = require('fhir');

const here = dirname(fileURLToPath(import.meta.url));
const OUT = resolve(here, '..', 'stu3-structure-definitions.json.gz');
const OUT_VALIDATION = resolve(here, '..', 'stu3-validation.json.gz');
const BUNDLES = ['valuesets.json', 'profiles-types.json', 'profiles-resources.json'];

function withDefinitions(use) {
  if (process.env.STU3_DEFS) return use(process.env.STU3_DEFS);
  const tmp = mkdtempSync(join(tmpdir(), 'stu3-defs-'));
  try {
    execFileSync('npm', ['pack', 'fhir@3.3.1', '--silent', '--pack-destination', tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('tar', ['-xzf', join(tmp, 'fhir-3.3.1.tgz'), '-C', tmp, ...BUNDLES.map((f) => `package/profiles/stu3/${f}`)]);
    return use(join(tmp, 'package', 'profiles', 'stu3'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * FHIR.js bug for STU3: STU3 lists each Reference target as a separate type entry, but
 * ParseConformance keeps only type[0].targetProfile for top-level elements (e.g. Schedule.actor would
 * only allow Patient). Merge all targets. Harmless for conversion, right for anyone validating later.
 */
function fixStu3ReferenceTargets(parser) {
  for (const sd of parser.structureDefinitions) {
    for (const el of sd.snapshot?.element ?? []) {
      const types = el.type ?? [];
      if (types.length < 2 || !types.every((t) => t.code === 'Reference')) continue;
      const name = el.id.substring(sd.type.length + 1);
      if (!name || name.includes('.') || name.includes(':')) continue;
      const prop = parser.parsedStructureDefinitions[sd.id]?._properties?.find((p) => p._name === name);
      if (prop) prop._targetProfiles = types.map((t) => t.targetProfile).filter(Boolean);
    }
  }
}

/**
 * What src/validation/ needs beyond the structure: every invariant (constraint with a FHIRPath
 * expression) keyed by element path ("Appointment", "Appointment.participant", "Extension"), and
 * the codes of each value set bound with strength "required" (binding codes only; no expansion
 * beyond the value set's own compose/expansion, which is what FHIR.js parsed).
 */
function validationData(parser) {
  const invariants = {};
  const required = new Set();
  for (const sd of parser.structureDefinitions) {
    if (sd.derivation === 'constraint') continue; // base definitions only; profiles come from ../profiles
    for (const el of sd.snapshot?.element ?? []) {
      if (!el.path.startsWith(`${sd.type}`) || (el.path !== sd.type && !el.path.startsWith(`${sd.type}.`))) continue;
      for (const c of el.constraint ?? []) {
        if (!c.expression) continue;
        // ele-1 is on every element; it is applied once, generically, by the validator.
        if (c.key === 'ele-1' && el.path !== 'Element') continue;
        (invariants[el.path] ??= []).push({ key: c.key, severity: c.severity, human: c.human, expression: c.expression });
      }
      const vs = el.binding?.strength === 'required' ? el.binding.valueSetReference?.reference ?? el.binding.valueSetUri : undefined;
      if (vs) required.add(vs.split('|')[0]);
    }
  }
  const valueSets = {};
  for (const url of [...required].sort()) {
    const parsed = parser.parsedValueSets[url];
    if (!parsed) continue;
    valueSets[url] = parsed.systems.map((s) => ({ system: s.uri, codes: s.codes.map((c) => c.code) }));
  }
  return { invariants, valueSets };
}

let validation;
const parsed = withDefinitions((dir) => {
  const parser = new ParseConformance(false, Versions.STU3); // false: do not preload FHIR.js's R4 definitions
  const log = console.log;
  console.log = () => {}; // the parser prints odd element ids while parsing
  try {
    // Value sets first: the structure definitions' bindings refer to them.
    for (const file of BUNDLES) parser.parseBundle(JSON.parse(readFileSync(join(dir, file), 'utf8')));
  } finally {
    console.log = log;
  }
  fixStu3ReferenceTargets(parser);
  validation = validationData(parser);
  return parser.parsedStructureDefinitions;
});

const json = JSON.stringify(parsed);
const gz = gzipSync(json, { level: 9 }); // node writes mtime 0: same inputs, same bytes
writeFileSync(OUT, gz);
console.log(`${OUT}: ${Object.keys(parsed).length} structure definitions, ${json.length} bytes JSON, ${gz.length} bytes gzipped`);
const vgz = gzipSync(JSON.stringify(validation), { level: 9 });
writeFileSync(OUT_VALIDATION, vgz);
console.log(`${OUT_VALIDATION}: invariants on ${Object.keys(validation.invariants).length} paths, ${Object.keys(validation.valueSets).length} required value sets, ${vgz.length} bytes gzipped`);
