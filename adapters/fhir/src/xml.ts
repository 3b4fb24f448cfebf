import { createRequire } from 'node:module';
import type { QualifiedTag, SAXOptions } from 'sax';
import type { Checked } from './booking-request.js';
import { childProperties, type Property, propertiesOfType, stu3 } from './definitions.js';
import { type Problem, problems } from './operation-outcome.js';

/**
 * FHIR STU3 XML ⇄ JSON (spec §4) with FHIR.js (npm `fhir`), which does the conversion from the
 * STU3 structure definitions: element order, value attributes, primitive extensions (`_given`),
 * contained resources, narrative. Its XML reader is lenient (it takes truncated documents, several
 * roots, any namespace), so `fromXml` first checks the text with a strict SAX parser.
 */

export const FHIR_NAMESPACE = 'http://hl7.org/fhir';
/** Deeper documents are refused before conversion: FHIR.js recurses per element (RangeError near 5000). */
export const MAX_XML_DEPTH = 300;

const requireCjs = createRequire(import.meta.url);

/** A resource (plain FHIR JSON object) as FHIR XML, with an XML declaration. */
export function toXml(resource: object): string {
  const xml = stu3().fhir.objToXml(resource) as string | undefined;
  if (typeof xml !== 'string') throw new Error('Cannot write XML for an object without a resourceType');
  return xml;
}

/** FHIR XML text as a resource (plain FHIR JSON object); 400 for anything that is not clean FHIR XML. */
export function fromXml(text: string): Checked<unknown> {
  const xml = text.replace(/^\uFEFF/, '');
  // No DTDs at all: they are how entity-expansion (billion laughs) and XXE attacks start, and FHIR has no use for them.
  if (/<!(DOCTYPE|ENTITY)/i.test(xml)) return { ok: false, problem: problems.badRequest('DTDs and entity declarations are not allowed in FHIR XML') };

  const read = readXml(xml);
  if (read.problem) return { ok: false, problem: read.problem };
  // FHIR.js cannot convert a number or boolean of the wrong form: the same 422 a JSON body gets.
  if (read.badPrimitives.length) {
    const at = read.badPrimitives.map((f) => f.expression);
    return { ok: false, problem: problems.invalidResource(`The resource is not valid: ${read.badPrimitives.map((f) => `${f.expression}: ${f.message}`).join('; ')}`, at) };
  }

  const { fhir, definitions } = stu3();
  let resource: Record<string, unknown> | undefined;
  try {
    resource = fhir.xmlToObj(withoutRanges(xml, read.ignored)) as Record<string, unknown> | undefined;
  } catch (error) {
    // FHIR.js throws for unknown resource types and primitive values of the wrong form ("yes" for a boolean).
    const why = error instanceof RangeError ? 'the document is nested too deeply' : firstLine(error);
    return { ok: false, problem: problems.badRequest(`The body is not a readable FHIR STU3 resource: ${why}`) };
  }
  if (!resource) return { ok: false, problem: problems.badRequest('The body is not a FHIR STU3 resource') };
  decimalsToNumbers(resource, (definitions[String(resource.resourceType)] as { _properties?: Property[] } | undefined)?._properties);
  return { ok: true, value: resource };
}

/** The text without the given [start, end) ranges (in document order, not overlapping). */
function withoutRanges(text: string, ranges: [number, number][]): string {
  if (ranges.length === 0) return text;
  let kept = '';
  let from = 0;
  for (const [start, end] of ranges) {
    kept += text.slice(from, start);
    from = end;
  }
  return kept + text.slice(from);
}

interface XmlReading {
  problem?: Problem;
  /**
   * Where the elements that are not FHIR STU3's sit in the text ([start, end) of each, tags and
   * content): ignored (spec §4), so cut before FHIR.js reads it. FHIR.js would drop an unknown
   * name itself, but it reads an unprefixed element of any namespace by its name alone.
   */
  ignored: [number, number][];
  badPrimitives: { expression: string; message: string }[];
}

/** Where the SAX walk is: the element's properties (undefined: not checked below), and its FHIRPath. */
interface Frame {
  properties: Property[] | undefined;
  expression: string;
  seen: Map<string, number>;
  /** Inside <contained> or <resource>: the next element is a resource's root. */
  resourceSlot?: boolean;
  /** An ignored element: where its start tag begins. */
  ignoredFrom?: number;
}

const NUMBER_FORMS: Record<string, RegExp> = {
  integer: /^-?([0]|([1-9][0-9]*))$/,
  unsignedInt: /^([0]|([1-9][0-9]*))$/,
  positiveInt: /^\+?[1-9][0-9]*$/,
  decimal: /^-?([0]|([1-9][0-9]*))(\.[0-9]+)?$/,
  boolean: /^(true|false)$/,
}

/**
 * Strict XML 1.0 well-formedness (unclosed or truncated documents, undefined entities, several
 * roots) plus the FHIR rules: one root element in the FHIR namespace, bounded depth. Walks the
 * elements with the STU3 definitions on the way, noting the ones STU3 does not define and the
 * numbers and booleans of the wrong form (FHIR.js would drop the first and throw on the second).
 */
function readXml(xml: string): XmlReading {
  const sax = requireCjs('sax') as typeof import('sax');
  // strictEntities: only the five XML entities (no HTML ones like &nbsp;, which XML does not define).
  const parser = sax.parser(true, { xmlns: true, strictEntities: true } as SAXOptions);
  const reading: XmlReading = { ignored: [], badPrimitives: [] };
  const stack: Frame[] = [];
  let depth = 0;
  let roots = 0;
  const stop = (p: Problem) => {
    reading.problem = p;
    throw new Error('stop');
  };
  const skip = (from: Frame): Frame => ({ properties: undefined, expression: from.expression, seen: new Map() });
  parser.ondoctype = () => stop(problems.badRequest('DTDs are not allowed in FHIR XML'));
  parser.onopentag = (node) => {
    const tag = node as QualifiedTag;
    if (depth === 0) {
      if (++roots > 1) stop(problems.notWellFormed('The XML has more than one root element'));
      // Unprefixed, as FHIR writes it: FHIR.js matches element names literally and cannot read <f:Patient>.
      if (tag.uri !== FHIR_NAMESPACE || tag.prefix !== '') {
        stop(problems.badRequest(`The root element must be a FHIR resource in the default namespace xmlns="${FHIR_NAMESPACE}"; got <${tag.name}> in "${tag.uri}"`));
      }
    }
    if (++depth > MAX_XML_DEPTH) stop(problems.badRequest(`The XML is nested more than ${MAX_XML_DEPTH} elements deep`));

    const parent = stack.at(-1);
    const name = tag.local;
    if (!parent || parent.resourceSlot) {
      // A resource's root: the document's, or one inside <contained>/<resource>.
      stack.push({ properties: propertiesOfType(name), expression: parent?.expression ?? name, seen: new Map() });
      return;
    }
    if (!parent.properties) return void stack.push(skip(parent));
    // As for the root: FHIR.js would silently lose <f:active>, a FHIR element it cannot read.
    if (tag.uri === FHIR_NAMESPACE && tag.prefix !== '') stop(problems.badRequest(`FHIR elements must be in the default namespace, unprefixed; got <${tag.name}> in ${parent.expression}`));
    const property = parent.properties.find((p) => p._name === name && !name.startsWith('_'));
    // Narrative is XHTML, in its own namespace; its content is not FHIR's to check.
    if (property?._type === 'xhtml') return void stack.push({ ...skip(parent), expression: `${parent.expression}.${name}` });
    // Not in the STU3 definition of this path, or not in FHIR's namespace: ignored (spec §4), as in JSON.
    if (!property || tag.uri !== FHIR_NAMESPACE) return void stack.push({ ...skip(parent), ignoredFrom: parser.startTagPosition - 1 });
    const index = parent.seen.get(name) ?? 0;
    parent.seen.set(name, index + 1);
    const expression = property._multiple ? `${parent.expression}.${name}[${index}]` : `${parent.expression}.${name}`;
    const form = NUMBER_FORMS[property._type ?? ''];
    const value = tag.attributes.value?.value;
    if (form && value !== undefined && !form.test(value)) reading.badPrimitives.push({ expression, message: `is not a valid ${property._type}: ${JSON.stringify(value).slice(0, 60)}` });
    if (property._type === 'Resource') return void stack.push({ properties: undefined, expression, seen: new Map(), resourceSlot: true });
    stack.push({ properties: childProperties(property, {}), expression, seen: new Map() });
  };
  parser.onclosetag = () => {
    depth--;
    const frame = stack.pop();
    if (frame?.ignoredFrom !== undefined) reading.ignored.push([frame.ignoredFrom, parser.position]);
  };
  parser.onerror = (error) => stop(problems.notWellFormed(`The body is not well-formed XML: ${firstLine(error)}`));
  try {
    parser.write(xml).close();
  } catch (error) {
    reading.problem ??= problems.notWellFormed(`The body is not well-formed XML: ${firstLine(error)}`);
  }
  if (!reading.problem && roots === 0) reading.problem = problems.notWellFormed('The body has no XML root element');
  return reading;
}

/**
 * FHIR.js keeps XML decimals as strings (to keep "1.50" exact); FHIR JSON has them as numbers,
 * which is what the rest of the product, reading JSON bodies, expects. Walks the resource with its
 * structure definition and converts just the decimal elements.
 */
function decimalsToNumbers(node: unknown, properties: Property[] | undefined): void {
  if (typeof node !== 'object' || node === null || !properties) return;
  const record = node as Record<string, unknown>;
  for (const property of properties) {
    const value = record[property._name];
    if (value === undefined || value === null) continue;
    if (property._type === 'decimal') {
      record[property._name] = Array.isArray(value) ? value.map(Number) : Number(value);
      continue;
    }
    for (const item of Array.isArray(value) ? value : [value]) decimalsToNumbers(item, childProperties(property, item));
  }
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
}
