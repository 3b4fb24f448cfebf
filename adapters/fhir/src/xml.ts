import { createRequire } from 'node:module';
import type { QualifiedTag, SAXOptions } from 'sax';
import type { Checked } from './booking-request.js';
import { childProperties, type Property, stu3 } from './definitions.js';
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

  const checked = checkWellFormed(xml);
  if (checked) return { ok: false, problem: checked };

  const { fhir, definitions } = stu3();
  let resource: Record<string, unknown> | undefined;
  try {
    resource = fhir.xmlToObj(xml) as Record<string, unknown> | undefined;
  } catch (error) {
    // FHIR.js throws for unknown resource types and primitive values of the wrong form ("yes" for a boolean).
    const why = error instanceof RangeError ? 'the document is nested too deeply' : firstLine(error);
    return { ok: false, problem: problems.badRequest(`The body is not a readable FHIR STU3 resource: ${why}`) };
  }
  if (!resource) return { ok: false, problem: problems.badRequest('The body is not a FHIR STU3 resource') };
  decimalsToNumbers(resource, (definitions[String(resource.resourceType)] as { _properties?: Property[] } | undefined)?._properties);
  return { ok: true, value: resource };
}

/**
 * Strict XML 1.0 well-formedness (unclosed or truncated documents, undefined entities, several
 * roots) plus the FHIR rules: one root element in the FHIR namespace, bounded depth.
 * Returns the problem, or undefined when the document is fine.
 */
function checkWellFormed(xml: string): Problem | undefined {
  const sax = requireCjs('sax') as typeof import('sax');
  // strictEntities: only the five XML entities (no HTML ones like &nbsp;, which XML does not define).
  const parser = sax.parser(true, { xmlns: true, strictEntities: true } as SAXOptions);
  let depth = 0;
  let roots = 0;
  let problem: Problem | undefined;
  const stop = (p: Problem) => {
    problem = p;
    throw new Error('stop');
  };
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
  };
  parser.onclosetag = () => {
    depth--;
  };
  parser.onerror = (error) => stop(problems.notWellFormed(`The body is not well-formed XML: ${firstLine(error)}`));
  try {
    parser.write(xml).close();
  } catch (error) {
    if (!problem) problem = problems.notWellFormed(`The body is not well-formed XML: ${firstLine(error)}`);
  }
  if (!problem && roots === 0) problem = problems.notWellFormed('The body has no XML root element');
  return problem;
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
