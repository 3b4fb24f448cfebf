import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import type { Fhir, ParseConformance } from 'fhir';

/**
 * The official FHIR STU3 (3.0.1) definitions the product ships, built by scripts/build-stu3-cache.mjs:
 * FHIR.js's parsed structure definitions (for XML conversion and structural validation) and, for
 * validation, every base invariant (FHIRPath) and the codes of every value set bound "required".
 */

export type Definitions = ParseConformance['parsedStructureDefinitions'];
/** One element of a parsed structure definition (FHIR.js form). */
export interface Property {
  _name: string;
  _type?: string;
  _choice?: string;
  _multiple?: boolean;
  _required?: boolean;
  _valueSet?: string;
  _valueSetStrength?: string;
  _properties?: Property[];
}
export interface Invariant {
  key: string;
  severity: string;
  human: string;
  expression: string;
}
export interface ValidationData {
  /** By element path ("Appointment", "Appointment.participant") or datatype ("Extension"). */
  invariants: Record<string, Invariant[]>;
  valueSets: Record<string, { system: string; codes: string[] }[]>;
}

const requireCjs = createRequire(import.meta.url);
const load = (file: string) => JSON.parse(gunzipSync(readFileSync(new URL(`../${file}`, import.meta.url))).toString('utf8'));

let converter: { fhir: Fhir; definitions: Definitions } | undefined;
let validation: ValidationData | undefined;

/** FHIR.js over the STU3 definitions; loaded on first use (~15 ms). */
export function stu3(): { fhir: Fhir; definitions: Definitions } {
  if (!converter) {
    const { Fhir, ParseConformance, Versions } = requireCjs('fhir') as typeof import('fhir');
    const parser = new ParseConformance(false, Versions.STU3); // false: skip FHIR.js's bundled R4 definitions
    parser.parsedStructureDefinitions = load('stu3-structure-definitions.json.gz') as Definitions;
    converter = { fhir: new Fhir(parser), definitions: parser.parsedStructureDefinitions };
  }
  return converter;
}

export function stu3Validation(): ValidationData {
  validation ??= load('stu3-validation.json.gz') as ValidationData;
  return validation;
}

export function propertiesOfType(type: string): Property[] | undefined {
  return (stu3().definitions[type] as { _properties?: Property[] } | undefined)?._properties;
}

/** The properties below an element: its own (backbone), a "#Type.path" reference, or its datatype's. */
export function childProperties(property: Property, item: unknown): Property[] | undefined {
  if (property._type === 'Resource') return propertiesOfType(String((item as { resourceType?: unknown })?.resourceType));
  if (property._properties?.length) return property._properties;
  if (property._type?.startsWith('#')) {
    const [type = '', ...path] = property._type.slice(1).split('.');
    let found = propertiesOfType(type);
    for (const name of path) found = found?.find((p) => p._name === name)?._properties;
    return found;
  }
  return property._type ? propertiesOfType(property._type) : undefined;
}
