import fhirpath from 'fhirpath';
import stu3Model from 'fhirpath/fhir-context/stu3/index.js';
import { childProperties, type Property, propertiesOfType, stu3Validation } from '../definitions.js';
import { NATIVE_INVARIANTS } from './native-invariants.js';
import { codeOf, nonXmlChar } from '../xml-text.js';
import { xhtmlProblem } from './xhtml.js';

/**
 * Structural validation of a resource against the official FHIR STU3 base definitions, once the
 * elements STU3 does not define are dropped (spec §4, acceptUnknown both): JSON types and
 * primitive formats, cardinality, choice types, required
 * bindings, and every base invariant (FHIRPath, evaluated by the `fhirpath` package with its STU3
 * model; dom-3 and ref-1, the costly ones, by native twins with the same answers: native-invariants.ts)
 * — among them ext-1, "an extension has a value or nested extensions, not both".
 * The walk follows FHIR.js's parsed structure definitions (definitions.ts), the same the XML
 * conversion uses, so a JSON body and its XML form get the same answer.
 */

/** One finding: the element (FHIRPath expression, with indexes) and what is wrong with it. */
export interface Finding {
  expression: string;
  message: string;
}

// Primitive formats, from the STU3 datatypes page (regexes anchored here). A check answers true,
// false ("is not a valid <type>") or why the value is not valid.
const PRIMITIVE: Record<string, (v: unknown) => boolean | string> = {
  boolean: (v) => typeof v === 'boolean',
  integer: (v) => Number.isInteger(v) && Math.abs(v as number) <= 2147483647,
  unsignedInt: (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 2147483647,
  positiveInt: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 2147483647,
  decimal: (v) => typeof v === 'number' && Number.isFinite(v),
  string: (v) => fhirString(v, /\S/),
  markdown: (v) => fhirString(v, /\S/),
  code: (v) => fhirString(v, /^[^\s]+( [^\s]+)*$/),
  id: (v) => typeof v === 'string' && /^[A-Za-z0-9\-.]{1,64}$/.test(v),
  uri: (v) => fhirString(v, /^\S+$/),
  oid: (v) => typeof v === 'string' && /^urn:oid:[0-2](\.(0|[1-9]\d*))+$/.test(v),
  uuid: (v) => typeof v === 'string' && /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(v),
  base64Binary: (v) => typeof v === 'string' && /^(\s*([0-9a-zA-Z+/=]){4}\s*)+$/.test(v),
  date: (v) => typeof v === 'string' && /^-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$/.test(v) && validCalendar(v),
  dateTime: (v) =>
    typeof v === 'string' &&
    /^-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$/.test(v) &&
    validCalendar(v),
  instant: (v) =>
    typeof v === 'string' &&
    /^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$/.test(v) &&
    validCalendar(v),
  time: (v) => typeof v === 'string' && /^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$/.test(v),
  // Narrative: well-formed XHTML within FHIR's rules (txt-1, txt-2), so it can be written as XML.
  xhtml: (v) => xhtmlProblem(v) ?? true,
};

/**
 * A string-based primitive of its form, without the characters FHIR strings may not hold (Unicode
 * points below 32 but tab, CR and LF) nor the few others XML 1.0 cannot carry: a stored value must
 * be writable in both formats.
 */
function fhirString(v: unknown, form: RegExp): boolean | string {
  if (typeof v !== 'string') return false;
  const bad = nonXmlChar(v);
  if (bad !== undefined) return `must not hold the character ${codeOf(bad)} (FHIR strings allow no control characters but tab, CR and LF)`;
  return form.test(v);
}

/** 2019-02-30 matches the pattern but is no date. */
function validCalendar(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(v);
  if (!m) return true;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/**
 * Validates one resource (and the resources it contains) against the base definitions, after
 * dropping its unknown elements in place (dropUnknownElements).
 */
export function validateBase(resource: unknown, at?: string): Finding[] {
  const findings: Finding[] = [];
  const root = isRecord(resource) && typeof resource.resourceType === 'string' ? resource.resourceType : 'Resource';
  dropUnknownElements(resource, at ?? root);
  try {
    new Walker(findings, resource).resource(resource, at ?? root);
  } catch (error) {
    if (!(error instanceof Enough)) throw error;
  }
  return findings;
}

/**
 * Spec §4: "Providers SHALL ignore unknown elements/extensions" (the CapabilityStatement says
 * acceptUnknown both). Removes, in place, every member the STU3 definition of its path does not
 * have (an R4 element, a vendor's, a resourceType inside an element), so what is validated next
 * is what is stored and echoed. Returns their FHIRPaths. Walks as the Walker does and only where
 * it would look inside: a member of the wrong JSON type is left for the Walker to refuse.
 * An element that held only unknown content (meta: { source }, _status: { fhir_comments }) goes
 * too, and so on upwards: ignoring its content must not leave an empty element the Walker refuses.
 * An array left empty goes; an emptied item of a `_given`-style array becomes null, so the array
 * still lines up with `given`. An element empty in the body itself stays, for the Walker to refuse.
 */
export function dropUnknownElements(resource: unknown, at = 'Resource'): string[] {
  const dropped: string[] = [];
  const inResource = (value: unknown, at: string) => {
    const properties = isRecord(value) && typeof value.resourceType === 'string' ? propertiesOfType(value.resourceType) : undefined;
    if (properties) inObject(value as Record<string, unknown>, properties, at, true);
  };
  /** Drops in obj; true when obj had members and the drop left none (a resource is never dropped). */
  const inObject = (obj: Record<string, unknown>, properties: Property[], at: string, isResource: boolean): boolean => {
    const names = namesOf(properties);
    const before = Object.keys(obj).length;
    for (const key of Object.keys(obj)) {
      if (names.has(key) || (isResource && key === 'resourceType')) continue;
      delete obj[key];
      dropped.push(`${at}.${key}`);
    }
    for (const property of properties) {
      const name = property._name;
      const value = obj[name];
      if (value === undefined || PRIMITIVE[property._type ?? '']) continue;
      const emptied = (item: unknown, itemAt: string): boolean => {
        if (property._type === 'Resource') {
          inResource(item, itemAt);
          return false;
        }
        const children = isRecord(item) ? childProperties(property, item) : undefined;
        return children ? inObject(item as Record<string, unknown>, children, itemAt, false) : false;
      };
      if (!Array.isArray(value)) {
        if (emptied(value, `${at}.${name}`)) delete obj[name];
        continue;
      }
      // _given: [null, {...}] lines up with given: ["a", "b"]: an emptied item becomes null there, else it goes.
      const aligned = name.startsWith('_');
      let changed = false;
      const kept = value.flatMap((item, i) => {
        if (!emptied(item, `${at}.${name}[${i}]`)) return [item];
        changed = true;
        return aligned ? [null] : [];
      });
      if (!changed) continue;
      if (kept.length === 0 || kept.every((item) => item === null)) delete obj[name];
      else obj[name] = kept;
    }
    return !isResource && before > 0 && Object.keys(obj).length === 0;
  };
  inResource(resource, at);
  return dropped;
}

/**
 * Bounds on the work one body may cause (each element costs FHIRPath evaluations): a booking has
 * about 60 elements, so 1,000 is generous, and a 1 MB body of tiny elements cannot hold the
 * facade for a second. Past MAX_FINDINGS the answer would not get more useful.
 */
export const MAX_ELEMENTS = 1000;
const MAX_FINDINGS = 50;
class Enough extends Error {}

class Walker {
  constructor(
    private readonly findings: Finding[],
    private readonly top: unknown,
  ) {}

  private elements = 0;

  private add(expression: string, message: string) {
    this.findings.push({ expression, message });
    if (this.findings.length >= MAX_FINDINGS) throw new Enough();
  }

  resource(value: unknown, at: string, container?: Record<string, unknown>): void {
    if (!isRecord(value)) {
      this.add(at, 'must be a resource (a JSON object with a resourceType)');
      return;
    }
    const type = value.resourceType;
    const properties = typeof type === 'string' ? propertiesOfType(type) : undefined;
    if (!properties || !/^[A-Z]/.test(String(type))) {
      this.add(`${at}.resourceType`, `unknown resource type ${JSON.stringify(type ?? null)}`);
      return;
    }
    this.object(value, properties, at, String(type), true);
    this.invariants(value, String(type), at, container ?? value);
  }

  /** An object's members against its properties; `path` is the definition path ("Appointment.participant"). */
  private object(obj: Record<string, unknown>, properties: Property[], at: string, path: string, isResource = false): void {
    if (++this.elements > MAX_ELEMENTS) {
      this.findings.push({ expression: at, message: `the resource has more than ${MAX_ELEMENTS} elements, more than this server validates` });
      throw new Enough();
    }
    // Unknown members are gone (dropUnknownElements), with any object that held only those: one empty here was empty in the body.
    const members = Object.keys(obj).filter((key) => !(isResource && key === 'resourceType')).length;
    if (members === 0) this.add(at, 'must not be empty (an element has a value or children)');
    const choices = new Map<string, string[]>();
    for (const property of properties) {
      const present = Object.hasOwn(obj, property._name);
      if (property._choice && present) choices.set(property._choice, [...(choices.get(property._choice) ?? []), property._name]);
      if (!present) {
        const satisfied = property._choice && properties.some((p) => p._choice === property._choice && Object.hasOwn(obj, p._name));
        if (property._required && !satisfied) this.add(`${at}.${property._choice ?? property._name}`, 'is required (minimum cardinality 1)');
        continue;
      }
      this.member(obj[property._name], property, `${at}.${property._name}`, `${path}.${property._choice ? `${property._choice}[x]` : property._name}`, obj);
    }
    for (const [choice, names] of choices) if (names.length > 1) this.add(`${at}.${choice}`, `only one of ${names.join(', ')} may be given (choice type)`);
    // Every modifierExtension is refused: it changes the meaning of the element that carries it,
    // FHIR forbids processing one the server does not understand, and this server understands none
    // (the Booking Standard profiles define none). Ignoring it is not "ignoring an unknown
    // extension" (spec §4) but acting on a resource that may mean something else.
    const modifiers = obj.modifierExtension;
    if (Array.isArray(modifiers) && modifiers.length > 0) {
      const urls = modifiers.map((e) => (isRecord(e) && typeof e.url === 'string' ? e.url : '(no url)'));
      this.add(`${at}.modifierExtension`, `modifier extension ${urls.join(', ')} is not understood by this server, so the resource cannot be processed`);
    }
  }

  private member(value: unknown, property: Property, at: string, path: string, parent: Record<string, unknown>): void {
    const primitiveExtension = property._name.startsWith('_');
    if (property._multiple) {
      if (!Array.isArray(value)) {
        this.add(at, 'must be an array (maximum cardinality *)');
        return;
      }
      if (value.length === 0) {
        this.add(at, 'must not be an empty array');
        return;
      }
      value.forEach((item, i) => {
        // _given: [null, {...}] lines up with given: ["a", "b"]; a null says "no extension for this one".
        if (item === null && (primitiveExtension || Array.isArray(parent[`_${property._name}`]))) return;
        this.item(item, property, `${at}[${i}]`, path);
      });
    } else {
      if (Array.isArray(value)) {
        this.add(at, 'must be a single value, not an array (maximum cardinality 1)');
        return;
      }
      this.item(value, property, at, path);
    }
  }

  private item(value: unknown, property: Property, at: string, path: string): void {
    const type = property._type ?? '';
    if (value === null || value === undefined) {
      this.add(at, 'must not be null');
      return;
    }
    const primitive = PRIMITIVE[type];
    if (primitive) {
      const valid = primitive(value);
      if (valid !== true) this.add(at, typeof valid === 'string' ? valid : `is not a valid ${type}: ${JSON.stringify(value).slice(0, 60)}`);
      else this.binding(value, property, at);
      return;
    }
    if (type === 'Resource') {
      this.resource(value, at, this.top as Record<string, unknown>);
      return;
    }
    if (!isRecord(value)) {
      this.add(at, `must be an object (${type || 'element'})`);
      return;
    }
    const properties = childProperties(property, value);
    if (!properties) return;
    // Backbone elements keep their path; datatypes are checked (and their invariants found) by type name.
    const own = property._properties?.length || type.startsWith('#') || type === 'BackboneElement' || type === 'Element' && property._properties?.length;
    const definitionPath = own ? (type.startsWith('#') ? type.slice(1) : path) : type;
    this.object(value, properties, at, definitionPath);
    this.binding(value, property, at);
    this.invariants(value, definitionPath, at);
  }

  /** Required bindings: the code (or one of the codings) must be in the value set. */
  private binding(value: unknown, property: Property, at: string): void {
    if (property._valueSetStrength !== 'required' || !property._valueSet) return;
    const valueSet = stu3Validation().valueSets[property._valueSet.split('|')[0] as string];
    if (!valueSet) return; // not expandable from the definitions (e.g. all of MIME types, languages): not checked
    const known = (system: unknown, code: unknown) => valueSet.some((s) => (system === undefined || s.system === system) && s.codes.includes(String(code)));
    if (property._type === 'code') {
      if (!known(undefined, value)) this.add(at, `code ${JSON.stringify(value)} is not in the required value set ${property._valueSet}`);
    } else if (property._type === 'Coding' && isRecord(value) && value.code !== undefined) {
      if (!known(value.system, value.code)) this.add(at, `coding ${value.system ?? ''}#${value.code} is not in the required value set ${property._valueSet}`);
    } else if (property._type === 'CodeableConcept' && isRecord(value) && Array.isArray(value.coding) && value.coding.length) {
      if (!value.coding.some((c) => isRecord(c) && known(c.system, c.code))) this.add(at, `no coding is in the required value set ${property._valueSet}`);
    }
  }

  /** The base invariants of an element path or datatype, evaluated with FHIRPath on this node. */
  private invariants(node: Record<string, unknown>, path: string, at: string, resource?: Record<string, unknown>): void {
    for (const invariant of stu3Validation().invariants[path] ?? []) {
      if (invariant.severity !== 'error' || SKIPPED_INVARIANTS.has(invariant.key)) continue;
      // dom-1..dom-4 are about contained resources: nothing to evaluate on a resource without any.
      if (node.contained === undefined && invariant.expression.startsWith('contained.')) continue;
      const top = resource ?? (this.top as object);
      // dom-3 and ref-1 cost most of a validation in fhirpath: a native twin answers them (see native-invariants.ts).
      let result: unknown[];
      try {
        const holds = nativeFor(invariant)?.(node, path, top);
        if (holds !== undefined) {
          if (!holds) this.add(at, `${invariant.key}: ${invariant.human}`);
          continue;
        }
        result = compiled(path, invariant.expression)(node, { resource: top }) as unknown[];
      } catch (error) {
        if (error instanceof Enough) throw error;
        continue; // an expression that cannot run on this body (fhirpath throws, e.g. on a resourceType { "toString": 1 }): the other checks judge the body
      }
      if (result.length > 0 && result.every((r) => r === false)) this.add(at, `${invariant.key}: ${invariant.human}`);
    }
  }
}

/** Loads the definitions and compiles every invariant now, so the first request pays nothing (~0.3 s). */
export function prepareBaseValidation(): void {
  for (const [path, invariants] of Object.entries(stu3Validation().invariants)) {
    for (const invariant of invariants) {
      try {
        compiled(path, invariant.expression);
      } catch {
        // one the engine cannot parse is skipped at run time too
      }
    }
  }
  propertiesOfType('Appointment');
}

/** The element names of a definition's properties, built once per definition (a Set per object walked was ≈ 5 % of a booking's validation). */
const propertyNames = new WeakMap<Property[], Set<string>>();
function namesOf(properties: Property[]): Set<string> {
  let names = propertyNames.get(properties);
  if (!names) {
    names = new Set(properties.map((p) => p._name));
    propertyNames.set(properties, names);
  }
  return names;
}

const cache = new Map<string, ReturnType<typeof fhirpath.compile>>();
/** Each invariant is parsed once per process (parsing costs far more than evaluating). */
function compiled(path: string, expression: string): ReturnType<typeof fhirpath.compile> {
  const key = `${path}\u0000${expression}`;
  let fn = cache.get(key);
  if (!fn) {
    fn = fhirpath.compile({ base: path, expression }, stu3Model, { traceFn: () => {} }); // ref-1 traces
    cache.set(key, fn);
  }
  return fn;
}

/**
 * The native twin of an invariant, only while the definition's expression is the one it was written
 * for: a changed definition falls back to fhirpath rather than to stale code.
 */
export function nativeFor(invariant: { key: string; expression: string }) {
  const native = NATIVE_INVARIANTS[invariant.key];
  return native && native.expression === invariant.expression ? native.evaluate : undefined;
}

/** ele-1 as published in STU3 is a union, not a test (fixed in R4); "must not be empty" checks what it means. */
const SKIPPED_INVARIANTS = new Set(['ele-1']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
