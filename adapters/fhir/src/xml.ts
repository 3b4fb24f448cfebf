import { randomUUID } from 'node:crypto';
import type { QualifiedTag } from 'sax';
import type { Checked } from './booking-request.js';
import { childProperties, type Property, propertiesOfType, stu3 } from './definitions.js';
import { type Problem, problems } from './operation-outcome.js';
import { MAX_XHTML_ATTRIBUTES, XHTML_NAMESPACE, xhtmlProblem } from './validation/xhtml.js';
import { attributesInSource, boundedSax, ltInAttributeValue, plainNumber, StopXml, xmlCharProblem, xmlSafe } from './xml-text.js';

/**
 * FHIR STU3 XML ⇄ JSON (spec §4) with FHIR.js (npm `fhir`), which does the conversion from the
 * STU3 structure definitions: element order, value attributes, primitive extensions (`_given`),
 * contained resources, narrative. Its XML reader is lenient (it takes truncated documents, several
 * roots, any namespace), so `fromXml` first checks the text with a strict SAX parser.
 */

export const FHIR_NAMESPACE = 'http://hl7.org/fhir';
/** Deeper documents are refused before conversion: FHIR.js recurses per element (RangeError near 5000). */
export const MAX_XML_DEPTH = 300;
/**
 * Attributes (namespace declarations included) one FHIR element may carry: FHIR's have at most
 * about four (value, id, url, xmlns). Narrative XHTML elements may have MAX_XHTML_ATTRIBUTES.
 */
export const MAX_XML_ATTRIBUTES = 16;

/**
 * A resource (plain FHIR JSON object) as FHIR XML, with an XML declaration. Always well-formed:
 * characters XML 1.0 cannot carry (PAS text) become U+FFFD, numbers are in plain notation, and
 * narrative goes in as it was checked. Throws for a narrative that is not FHIR XHTML.
 */
export function toXml(resource: object): string {
  const narratives: string[] = [];
  const xml = stu3().fhir.objToXml(forXml(resource, narratives)) as string | undefined;
  if (typeof xml !== 'string') throw new Error('Cannot write XML for an object without a resourceType');
  // Narratives go in after xmlSafe: checked, they hold no character to replace, and a tab in their markup must stay one.
  // Function replacements: a narrative's "$&" is text, not a pattern.
  return narratives.reduce((out, div, i) => out.replace(placeholder(i), () => div), xmlSafe(xml));
}

/**
 * FHIR.js parses and rewrites each narrative, and gets attributes wrong (title="a&lt;b" comes out
 * as title="a<b", not well-formed; "&amp;amp;" as "&amp;"). A narrative that passes the FHIR
 * XHTML check is one <div> element declaring its own namespace, so it goes into the document
 * verbatim: FHIR.js writes a placeholder, replaced afterwards.
 */
const placeholder = (i: number) => `<div xmlns="${XHTML_NAMESPACE}">${PLACEHOLDER_NONCE}-${i}</div>`;
const PLACEHOLDER_NONCE = `narrative-${randomUUID()}`;

/**
 * The resource as FHIR.js should write it: each number JavaScript writes in exponent form (1e21,
 * 1e-7) as a plain decimal string, which FHIR.js writes as it is; each narrative as a placeholder
 * (its text kept in `narratives`). Copied only where something changes.
 */
function forXml<T>(node: T, narratives: string[], key?: string): T {
  if (typeof node === 'number') return (String(node).includes('e') ? plainNumber(node) : node) as T;
  if (key === 'div' && typeof node === 'string') {
    const why = xhtmlProblem(node);
    if (why) throw new Error(`Cannot write a narrative that is not FHIR XHTML as XML: it ${why}`);
    return placeholder(narratives.push(node) - 1) as T;
  }
  if (typeof node !== 'object' || node === null) return node;
  let copy: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(node)) {
    const written = forXml(value, narratives, Array.isArray(node) ? key : name);
    if (written === value) continue;
    copy ??= (Array.isArray(node) ? [...node] : { ...node }) as Record<string, unknown>;
    copy[name] = written;
  }
  return (copy ?? node) as T;
}

/** FHIR XML text as a resource (plain FHIR JSON object); 400 for anything that is not clean FHIR XML. */
export function fromXml(text: string): Checked<unknown> {
  const xml = text.replace(/^\uFEFF/, '');
  // No DTDs at all: they are how entity-expansion (billion laughs) and XXE attacks start, and FHIR has no use for them.
  if (/<!(DOCTYPE|ENTITY)/i.test(xml)) return { ok: false, problem: problems.badRequest('DTDs and entity declarations are not allowed in FHIR XML') };
  // sax does not check characters: a raw U+0001 or &#1; would be read, stored, and written back out.
  const chars = xmlCharProblem(xml);
  if (chars) return { ok: false, problem: problems.notWellFormed(`The body is not well-formed XML: ${chars}`) };

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
    resource = fhir.xmlToObj(edited(xml, read.edits)) as Record<string, unknown> | undefined;
  } catch (error) {
    // FHIR.js throws for unknown resource types and primitive values of the wrong form ("yes" for a boolean).
    const why = error instanceof RangeError ? 'the document is nested too deeply' : firstLine(error);
    return { ok: false, problem: problems.badRequest(`The body is not a readable FHIR STU3 resource: ${why}`) };
  }
  if (!resource) return { ok: false, problem: problems.badRequest('The body is not a FHIR STU3 resource') };
  // FHIR.js rewrites narrative and gets it wrong (title="a&lt;b" becomes title="a<b"): each div as the body has it.
  for (const { path, source } of read.narratives) {
    const text = path.slice(0, -1).reduce<unknown>((node, step) => (node as Record<string | number, unknown> | undefined)?.[step], resource);
    if (typeof text === 'object' && text !== null && !Array.isArray(text)) (text as Record<string, unknown>).div = source;
  }
  decimalsToNumbers(resource, (definitions[String(resource.resourceType)] as { _properties?: Property[] } | undefined)?._properties);
  return { ok: true, value: resource };
}

/**
 * The text with each [start, end) range replaced by its edit's text (nothing: cut). Ranges nest or
 * are apart (never overlap partly): recorded as elements and comments close, so sorted here, and
 * a range inside an earlier one is already gone with it.
 */
function edited(text: string, edits: Edit[]): string {
  if (edits.length === 0) return text;
  let kept = '';
  let from = 0;
  for (const { start, end, text: replacement = '' } of [...edits].sort((a, b) => a.start - b.start)) {
    if (start < from) continue;
    kept += text.slice(from, start) + replacement;
    from = end;
  }
  return kept + text.slice(from);
}

/** A [start, end) range of the body's text and what goes in its place (nothing: it is cut). */
interface Edit {
  start: number;
  end: number;
  text?: string;
}

/** The quoted form of an attribute value: XML would turn a raw tab or line break in it into a space. */
function attributeValue(value: string): string {
  const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '"': '&quot;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' };
  return `"${value.replace(/[&<"\t\n\r]/g, (c) => escapes[c] ?? c)}"`;
}

interface XmlReading {
  problem?: Problem;
  /**
   * What to change in the text before FHIR.js reads it. Cut: the elements that are not FHIR
   * STU3's (tags and content): ignored (spec §4); FHIR.js would drop an unknown name itself, but
   * it reads an unprefixed element of any namespace by its name alone. Cut too: comments outside
   * narrative, which FHIR.js turns into fhir_comments (on `_status`, which the drop of unknown
   * elements would leave empty) or throws on beside a narrative div. Rewritten: a primitive
   * element whose value is its text (`<status>cancelled</status>`, as the assurance harness's
   * XSLT writes it), as `<status value="cancelled"/>`, the only form FHIR.js reads.
   */
  edits: Edit[];
  badPrimitives: { expression: string; message: string }[];
  /** Each narrative div as the body has it, and where it sits in the JSON form. */
  narratives: { path: (string | number)[]; source: string }[];
}

/** Where the SAX walk is: the element's properties (undefined: not checked below), and its FHIRPath. */
interface Frame {
  properties: Property[] | undefined;
  /** Where the element sits in the JSON form. */
  path: (string | number)[];
  expression: string;
  seen: Map<string, number>;
  /** Inside <contained> or <resource>: the next element is a resource's root. */
  resourceSlot?: boolean;
  /** An ignored element: where its start tag begins. */
  ignoredFrom?: number;
  /** Some element has been opened inside this one. */
  hasChildren?: boolean;
  /** Some non-blank text has been read directly inside this one (each chunk tested once, as it comes). */
  hasText?: boolean;
  /**
   * A FHIR primitive element (a value, an id, extensions): its start tag, where it begins, whether
   * it has a value attribute, and its text so far, which is its value when it has neither a
   * value attribute nor child elements.
   */
  primitive?: { tag: string; from: number; type: string; hasValue: boolean; text: string };
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
 * roots) plus the FHIR rules: one root element in the FHIR namespace, bounded depth and attributes,
 * no text but in narrative and as the whole value of a primitive element (which has no value
 * attribute and no child elements: `<status>cancelled</status>`, trimmed). Walks the elements with the STU3 definitions on the way, noting the
 * ones STU3 does not define, the numbers and booleans of the wrong form and the single-valued
 * elements given twice (FHIR.js would drop the first, throw on the second and keep the last of the
 * third).
 */
function readXml(xml: string): XmlReading {
  // Only the five XML entities (no HTML ones like &nbsp;, which XML does not define); attributes bounded while read.
  const { parser, write, tagText } = boundedSax(Math.max(MAX_XML_ATTRIBUTES, MAX_XHTML_ATTRIBUTES));
  const reading: XmlReading = { edits: [], badPrimitives: [], narratives: [] };
  let narrative: { path: (string | number)[]; start: number; depth: number } | undefined;
  const stack: Frame[] = [];
  let depth = 0;
  let roots = 0;
  const stop = (p: Problem) => {
    reading.problem = p;
    throw new Error('stop');
  };
  const skip = (from: Frame): Frame => ({ properties: undefined, path: from.path, expression: from.expression, seen: new Map() });
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
    // Narrative (XHTML) elements may have more attributes; the walk bounds them at MAX_XHTML_ATTRIBUTES.
    if (tag.uri !== XHTML_NAMESPACE && Object.keys(tag.attributes).length > MAX_XML_ATTRIBUTES) {
      stop(problems.badRequest(`The XML element <${tag.name.slice(0, 60)}> has more than ${MAX_XML_ATTRIBUTES} attributes`));
    }
    // What sax does not check: a '<' in an attribute value, an attribute given twice (sax keeps the first).
    const source = tagText();
    if (ltInAttributeValue(source)) stop(problems.notWellFormed(`The body is not well-formed XML: <${tag.name.slice(0, 60)}> has a '<' in an attribute value`));
    if (attributesInSource(source) !== Object.keys(tag.attributes).length) stop(problems.notWellFormed(`The body is not well-formed XML: <${tag.name.slice(0, 60)}> has an attribute twice`));

    const parent = stack.at(-1);
    const name = tag.local;
    if (parent) {
      parent.hasChildren = true;
      // The flag, not the text so far: re-testing it at every child would cost whitespace × children.
      if (parent.hasText) stop(textProblem(parent.expression, 'beside child elements'));
    }
    if (!parent || parent.resourceSlot) {
      // A resource's root: the document's, or one inside <contained>/<resource>, which holds one.
      if (parent) {
        const resources = (parent.seen.get('') ?? 0) + 1;
        parent.seen.set('', resources);
        if (resources === 2) reading.badPrimitives.push({ expression: parent.expression, message: 'must hold one resource, not several' });
      }
      stack.push({ properties: propertiesOfType(name), path: parent?.path ?? [], expression: parent?.expression ?? name, seen: new Map() });
      return;
    }
    if (!parent.properties) return void stack.push(skip(parent));
    // As for the root: FHIR.js would silently lose <f:active>, a FHIR element it cannot read.
    if (tag.uri === FHIR_NAMESPACE && tag.prefix !== '') stop(problems.badRequest(`FHIR elements must be in the default namespace, unprefixed; got <${tag.name}> in ${parent.expression}`));
    const property = parent.properties.find((p) => p._name === name && !name.startsWith('_'));
    // Narrative is XHTML, in its own namespace (which its check requires); its content is not FHIR's to walk.
    const isNarrative = property?._type === 'xhtml';
    // Not in the STU3 definition of this path, or not in FHIR's namespace: ignored (spec §4), as in JSON.
    if (!property || (tag.uri !== FHIR_NAMESPACE && !isNarrative)) return void stack.push({ ...skip(parent), ignoredFrom: parser.startTagPosition - 1 });
    const index = parent.seen.get(name) ?? 0;
    parent.seen.set(name, index + 1);
    const path = property._multiple ? [...parent.path, name, index] : [...parent.path, name];
    const expression = property._multiple ? `${parent.expression}.${name}[${index}]` : `${parent.expression}.${name}`;
    // In JSON, an array where one value belongs: 422, as validation answers that.
    if (!property._multiple && index === 1) reading.badPrimitives.push({ expression, message: 'must be a single value, not repeated (maximum cardinality 1)' });
    if (isNarrative) {
      narrative = { path, start: parser.startTagPosition - 1, depth };
      return void stack.push({ ...skip(parent), path, expression });
    }
    const type = property._type ?? '';
    const value = tag.attributes.value?.value;
    checkNumberForm(type, value, expression);
    if (type === 'Resource') return void stack.push({ properties: undefined, path, expression, seen: new Map(), resourceSlot: true });
    // FHIR's primitive types are the ones named in lower case (boolean, code, instant...; xhtml is narrative, above).
    const primitive = /^[a-z]/.test(type) ? { tag: source, from: parser.startTagPosition - 1, type, hasValue: value !== undefined, text: '' } : undefined;
    stack.push({ properties: childProperties(property, {}), path, expression, seen: new Map(), primitive });
  };
  const checkNumberForm = (type: string, value: string | undefined, expression: string) => {
    const form = NUMBER_FORMS[type];
    if (form && value !== undefined && !form.test(value)) reading.badPrimitives.push({ expression, message: `is not a valid ${type}: ${JSON.stringify(value).slice(0, 60)}` });
  };
  parser.onclosetag = () => {
    if (narrative?.depth === depth) {
      reading.narratives.push({ path: narrative.path, source: xml.slice(narrative.start, parser.position) });
      narrative = undefined;
    }
    depth--;
    const frame = stack.pop();
    if (frame?.ignoredFrom !== undefined) reading.edits.push({ start: frame.ignoredFrom, end: parser.position });
    const value = frame?.hasText ? frame.primitive?.text.trim() : undefined;
    if (frame?.primitive && value) {
      // Written with its value as an attribute, the start tag's own attributes (id, xmlns) kept; a start tag of an element with text ends in '>', not '/>'.
      const { primitive } = frame;
      checkNumberForm(primitive.type, value, frame.expression);
      reading.edits.push({ start: primitive.from, end: parser.position, text: `${primitive.tag.slice(0, -1)} value=${attributeValue(value)}/>` });
    }
  };
  // FHIR elements have values in attributes; text is only the narrative's, in an element FHIR ignores, or a primitive's whole value.
  const onText = (text: string) => {
    const frame = stack.at(-1);
    if (!(frame?.properties || frame?.resourceSlot)) return;
    const primitive = frame.primitive;
    if (primitive) primitive.text += text;
    if (!/\S/.test(text)) return;
    frame.hasText = true;
    if (!primitive) stop(textProblem(frame.expression, 'where FHIR has only elements and value attributes'));
    else if (primitive.hasValue) stop(textProblem(frame.expression, 'beside its value attribute'));
    else if (frame.hasChildren) stop(textProblem(frame.expression, 'beside child elements'));
  };
  parser.ontext = onText;
  parser.oncdata = onText;
  // sax reports a comment at the second '-' of its "-->" (an empty one not at all: FHIR.js ignores those).
  // Inside a narrative it stays: the div is copied as the body has it.
  parser.oncomment = (comment) => {
    if (!narrative) reading.edits.push({ start: parser.position - comment.length - '<!----'.length, end: parser.position + 1 });
  };
  parser.onerror = (error) => stop(problems.notWellFormed(`The body is not well-formed XML: ${firstLine(error)}`));
  try {
    write(xml);
  } catch (error) {
    const bound = error instanceof StopXml ? problems.badRequest(`The XML is refused: ${error.reason}`) : undefined;
    reading.problem ??= bound ?? problems.notWellFormed(`The body is not well-formed XML: ${firstLine(error)}`);
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

function textProblem(expression: string, where: string): Problem {
  return problems.notWellFormed(`The body is not well-formed FHIR XML: text in ${expression}, ${where}`);
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
}
