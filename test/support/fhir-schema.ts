import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fromXml, toXml } from '@booking/fhir';
import fhirpath from 'fhirpath';
import stu3Model from 'fhirpath/fhir-context/stu3/index.js';

/**
 * An independent judge of the product's answers: the official FHIR STU3 schemas in
 * ../shared/spec/fhir-stu3-schemas (beside the clone, as in CI), not the product's own definitions.
 * - XML: `xmllint --schema xsd-stu3/fhir-single.xsd` (Debian libxml2-utils).
 * - JSON: element names, cardinalities, JSON types and choice types from the core
 *   StructureDefinition extract (sd-stu3/stu3-base-elements.json); the same body is also written
 *   as XML and put to the XSD, which holds the code enumerations the extract leaves out.
 * - Both: every base invariant (FHIRPath, `fhirpath`'s STU3 model).
 */

export const SCHEMAS_DIR = resolve(import.meta.dirname, '../../../shared/spec/fhir-stu3-schemas');
const XSD = join(SCHEMAS_DIR, 'xsd-stu3', 'fhir-single.xsd');

interface ElementDef {
  path: string;
  min: number;
  max: string;
  types?: { code: string | null }[];
  contentReference?: string;
  constraints?: { key: string; severity: string; human: string; expression: string }[];
}
interface TypeDef {
  kind: string;
  elements: ElementDef[];
}

let extract: { byPath: Map<string, ElementDef>; children: Map<string, ElementDef[]>; types: Record<string, TypeDef> } | undefined;
function definitions() {
  if (!extract) {
    const { types } = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'sd-stu3', 'stu3-base-elements.json'), 'utf8')) as { types: Record<string, TypeDef> };
    const byPath = new Map<string, ElementDef>();
    const children = new Map<string, ElementDef[]>();
    for (const type of Object.values(types)) {
      for (const e of type.elements) {
        byPath.set(e.path, e);
        const parent = e.path.slice(0, e.path.lastIndexOf('.'));
        if (e.path.includes('.')) children.set(parent, [...(children.get(parent) ?? []), e]);
      }
    }
    extract = { byPath, children, types };
  }
  return extract;
}

export interface SchemaError {
  at: string;
  message: string;
}

const JSON_TYPE: Record<string, (v: unknown) => boolean> = {
  boolean: (v) => typeof v === 'boolean',
  integer: (v) => Number.isInteger(v),
  unsignedInt: (v) => Number.isInteger(v) && (v as number) >= 0,
  positiveInt: (v) => Number.isInteger(v) && (v as number) > 0,
  decimal: (v) => typeof v === 'number',
};
const isPrimitive = (code: string) => /^[a-z]/.test(code);
const upper = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Structure and invariants of a JSON resource against the core extract. */
export function checkJsonResource(resource: unknown): SchemaError[] {
  const errors: SchemaError[] = [];
  const walk = {
    resource(value: unknown, at: string) {
      if (!isRecord(value) || typeof value.resourceType !== 'string' || definitions().types[value.resourceType]?.kind !== 'resource') {
        errors.push({ at, message: 'not a resource' });
        return;
      }
      walk.node(value, value.resourceType, at, true, value);
    },
    node(value: Record<string, unknown>, path: string, at: string, isResource: boolean, top: Record<string, unknown>) {
      const defs = definitions().children.get(path) ?? [];
      const keys = Object.keys(value).filter((k) => !(isResource && k === 'resourceType'));
      if (keys.length === 0) errors.push({ at, message: 'empty element' });
      const matched = new Set<string>();
      for (const def of defs) {
        const name = def.path.slice(path.length + 1);
        const names = name.endsWith('[x]') ? (def.types ?? []).map((t) => `${name.slice(0, -3)}${upper(String(t.code))}`) : [name];
        const present = names.filter((n) => n in value || `_${n}` in value);
        for (const n of present) matched.add(n).add(`_${n}`);
        if (present.length > 1) errors.push({ at: `${at}.${name}`, message: 'more than one choice' });
        if (present.length === 0) {
          if (def.min > 0) errors.push({ at: `${at}.${name}`, message: `required (min ${def.min})` });
          continue;
        }
        const key = present[0] as string;
        const code = name.endsWith('[x]') ? (def.types ?? []).find((t) => key === `${name.slice(0, -3)}${upper(String(t.code))}`)?.code : def.types?.[0]?.code;
        for (const k of [key, `_${key}`]) {
          if (!(k in value)) continue;
          const item = value[k];
          const many = def.max !== '1';
          if (many !== Array.isArray(item)) {
            errors.push({ at: `${at}.${k}`, message: many ? 'must be an array' : 'must not be an array' });
            continue;
          }
          const items = Array.isArray(item) ? item : [item];
          if (Array.isArray(item) && item.length === 0) errors.push({ at: `${at}.${k}`, message: 'empty array' });
          items.forEach((v, i) => {
            const where = Array.isArray(item) ? `${at}.${k}[${i}]` : `${at}.${k}`;
            if (v === null) {
              if (!Array.isArray(item)) errors.push({ at: where, message: 'null' });
              return;
            }
            if (k.startsWith('_')) {
              if (!isRecord(v)) errors.push({ at: where, message: 'primitive extension must be an object' });
              else walk.node(v, 'Element', where, false, top);
              return;
            }
            walk.value(v, def, code ?? null, where, top);
          });
        }
      }
      for (const k of keys) if (!matched.has(k)) errors.push({ at: `${at}.${k}`, message: 'unknown element' });
      walk.invariants(value, path, at, top);
    },
    value(v: unknown, def: ElementDef, code: string | null, at: string, top: Record<string, unknown>) {
      if (def.contentReference) {
        if (isRecord(v)) walk.node(v, def.contentReference.slice(1), at, false, top);
        else errors.push({ at, message: 'must be an object' });
        return;
      }
      if (code === null || code === undefined) return;
      if (isPrimitive(code)) {
        const ok = JSON_TYPE[code] ?? ((x: unknown) => typeof x === 'string' && x.length > 0);
        if (!ok(v)) errors.push({ at, message: `not a ${code}: ${JSON.stringify(v).slice(0, 40)}` });
        return;
      }
      if (!isRecord(v)) {
        errors.push({ at, message: `must be an object (${code})` });
        return;
      }
      if (code === 'Resource') return walk.resource(v, at);
      const own = definitions().children.has(def.path) && (code === 'BackboneElement' || code === 'Element');
      walk.node(v, own ? def.path : code, at, false, top);
    },
    invariants(node: Record<string, unknown>, path: string, at: string, top: Record<string, unknown>) {
      for (const c of definitions().byPath.get(path)?.constraints ?? []) {
        // ele-1 as published in STU3 is a union, not a test; "empty element" above checks what it means.
        if (c.severity !== 'error' || c.key === 'ele-1') continue;
        let result: unknown[];
        try {
          result = fhirpath.evaluate(node, { base: path, expression: c.expression }, { resource: top }, stu3Model, { traceFn: () => {} }) as unknown[];
        } catch {
          continue;
        }
        if (result.length > 0 && result.every((r) => r === false)) errors.push({ at, message: `${c.key}: ${c.human}` });
      }
    },
  };
  walk.resource(resource, isRecord(resource) ? String(resource.resourceType) : 'body');
  return errors;
}

/** xmllint over XML documents in one run (one schema load); the error lines per document. */
export function checkXmlDocuments(documents: string[]): SchemaError[][] {
  if (documents.length === 0) return [];
  const dir = mkdtempSync(join(tmpdir(), 'fhir-xsd-'));
  try {
    const files = documents.map((doc, i) => {
      const file = join(dir, `${i}.xml`);
      writeFileSync(file, doc);
      return file;
    });
    const errors: SchemaError[][] = documents.map(() => []);
    for (let start = 0; start < files.length; start += 1000) {
      const chunk = files.slice(start, start + 1000);
      let output = '';
      try {
        execFileSync('xmllint', ['--noout', '--nonet', '--schema', XSD, ...chunk], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
      } catch (error) {
        output = String((error as { stderr?: string }).stderr ?? error);
      }
      for (const line of output.split('\n')) {
        const m = /^(.*?\/(\d+)\.xml):(\d+): (.*)$/.exec(line);
        if (m) errors[Number(m[2])]?.push({ at: `line ${m[3]}`, message: m[4] as string });
        else if (/fails to validate$/.test(line)) {
          const n = Number(/(\d+)\.xml fails/.exec(line)?.[1]);
          if ((errors[n]?.length ?? 1) === 0) errors[n]?.push({ at: 'document', message: line });
        }
      }
    }
    return errors;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The official schemas sit beside the clone (../shared, as in CI); a lone clone has none. */
export function schemasPresent(): boolean {
  return existsSync(XSD);
}

export function xmllintAvailable(): boolean {
  try {
    execFileSync('xmllint', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One response body as received: its media type and text. */
export interface CollectedBody {
  what: string;
  contentType: string;
  text: string;
}

/** Every problem with a set of response bodies, as "what: where: message" lines. */
export function checkBodies(bodies: CollectedBody[]): string[] {
  const failures: string[] = [];
  const xml: { what: string; text: string }[] = [];
  for (const body of bodies) {
    let resource: unknown;
    if (/xml/.test(body.contentType)) {
      xml.push({ what: body.what, text: body.text });
      const read = fromXml(body.text);
      if (!read.ok) {
        failures.push(`${body.what}: unreadable XML: ${read.problem.diagnostics}`);
        continue;
      }
      resource = read.value;
    } else {
      try {
        resource = JSON.parse(body.text);
      } catch {
        failures.push(`${body.what}: not JSON`);
        continue;
      }
      // The XSD holds the code enumerations: judge the JSON's content there too.
      if (isRecord(resource) && typeof resource.resourceType === 'string') xml.push({ what: `${body.what} (as XML)`, text: toXml(resource) });
    }
    for (const e of checkJsonResource(resource)) failures.push(`${body.what}: ${e.at}: ${e.message}`);
  }
  const xmlErrors = checkXmlDocuments(xml.map((x) => x.text));
  xmlErrors.forEach((errs, i) => {
    for (const e of errs) failures.push(`${xml[i]?.what}: XSD ${e.at}: ${e.message}`);
  });
  return failures;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
