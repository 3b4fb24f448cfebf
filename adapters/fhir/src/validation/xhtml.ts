import type { QualifiedAttribute, QualifiedTag } from 'sax';
import { attributesInSource, boundedSax, cdataEndInText, ltInAttributeValue, StopXml, xmlCharProblem } from '../xml-text.js';

/**
 * Narrative (`text.div`) as FHIR STU3 allows it: one well-formed XHTML `<div>` in the XHTML
 * namespace, no DTD or processing instructions, and the rules the narrative invariants state
 * (their XPath, from the core definitions):
 *  - txt-1: only the basic HTML formatting elements and attributes (the two lists below), so no
 *    scripts, forms, objects, frames or event attributes (onclick...);
 *  - txt-2: some non-whitespace content (text, or an image with a source);
 * and, from the FHIR XHTML schema (fhir-xhtml.xsd), that <img> has src and alt (and is not in
 * <pre>), xml:space is only on <pre>, and no block element is inside an element of inline
 * content. Not yet checked against the schema: which attributes each element may have, which
 * children lists and tables take (an empty <ul>, a <caption> after the rows), text in <blockquote>.
 * A narrative that passes is one the XML writer can put into a well-formed FHIR XML document.
 */

export const XHTML_NAMESPACE = 'http://www.w3.org/1999/xhtml';
const XML_NAMESPACE = 'http://www.w3.org/XML/1998/namespace';

/** txt-1's elements. */
const ELEMENTS = new Set(
  'a abbr acronym b big blockquote br caption cite code col colgroup dd dfn div dl dt em h1 h2 h3 h4 h5 h6 hr i img li ol p pre q samp small span strong sub sup table tbody td tfoot th thead tr tt ul var'.split(' '),
);
/** txt-1's attributes (plus xml:lang, which the FHIR XHTML schema allows on all of them, and xml:space on <pre>). */
const ATTRIBUTES = new Set(
  'abbr accesskey align alt axis bgcolor border cellhalign cellpadding cellspacing cellvalign char charoff charset cite class colspan compact coords dir frame headers height href hreflang hspace id lang longdesc name nowrap rel rev rowspan rules scope shape span src start style summary tabindex title type valign value vspace width'.split(
    ' ',
  ),
);

/**
 * The FHIR XHTML schema's (fhir-xhtml.xsd) content models, as far as they bear on txt-1's elements:
 * block elements go where its "Flow" or "Block" content is (div, li, dd, td, th, blockquote), never
 * into elements of "Inline" content: p, headings, dt, caption, span, a, pre and the phrase and font
 * elements (<span><p>, <p><div> are not XHTML, and an XML answer holding them fails the schema).
 * <pre> takes no <img> either.
 */
const BLOCK = new Set('p h1 h2 h3 h4 h5 h6 div ul ol dl pre hr blockquote table'.split(' '));
const INLINE_CONTENT = new Set(
  'p h1 h2 h3 h4 h5 h6 dt caption span a pre em strong dfn code samp var cite abbr acronym q sub sup tt i b big small'.split(' '),
);

/**
 * Attributes one narrative element may carry, namespace declarations included: every attribute
 * txt-1 allows (each at most once) and then some. Past it the element is refused while it is read.
 */
export const MAX_XHTML_ATTRIBUTES = 64;
/** No narrative nests this deep; the XML writer recurses per element. */
const MAX_XHTML_DEPTH = 100;

/** Why a narrative `div` is not valid FHIR XHTML, or undefined when it is. */
export function xhtmlProblem(div: unknown): string | undefined {
  if (typeof div !== 'string') return 'must be a string of XHTML';
  const chars = xmlCharProblem(div);
  if (chars) return `is not well-formed XHTML: ${chars}`;
  if (/<!(DOCTYPE|ENTITY)/i.test(div)) return 'must not hold a DTD or entity declarations';

  const { parser, write, tagText } = boundedSax(MAX_XHTML_ATTRIBUTES);
  const stop = (reason: string): never => {
    throw new StopXml(reason);
  };
  let depth = 0;
  let roots = 0;
  let content = false;
  const open: string[] = [];
  parser.onprocessinginstruction = (pi) => stop(`must not hold processing instructions (<?${pi.name}?>)`);
  parser.ondoctype = () => stop('must not hold a DTD');
  parser.onopentag = (node) => {
    const tag = node as QualifiedTag;
    if (depth++ === 0) {
      if (++roots > 1) stop('must be a single <div> element');
      if (tag.local !== 'div') stop(`must be a <div> element, not <${tag.name}>`);
    }
    if (depth > MAX_XHTML_DEPTH) stop(`is nested more than ${MAX_XHTML_DEPTH} elements deep`);
    // What sax does not check, and the XML writer would copy into a document.
    const source = tagText();
    if (ltInAttributeValue(source)) stop(`is not well-formed XHTML: <${tag.name}> has a '<' in an attribute value (write &lt;)`);
    if (attributesInSource(source) !== Object.keys(tag.attributes).length) stop(`is not well-formed XHTML: <${tag.name}> has an attribute twice`);
    if (tag.uri !== XHTML_NAMESPACE || tag.prefix !== '') stop(`<${tag.name}> must be in the XHTML namespace xmlns="${XHTML_NAMESPACE}", unprefixed`);
    if (!ELEMENTS.has(tag.local)) stop(`txt-1: <${tag.local}> is not allowed in a narrative${tag.local === 'script' ? ' (no scripts)' : ''}`);
    for (const attribute of Object.values(tag.attributes) as QualifiedAttribute[]) {
      const why = attributeProblem(attribute);
      if (why) stop(`txt-1: <${tag.local} ${attribute.name}> ${why}`);
      // The schema has xml:space on <pre> only, fixed "preserve".
      if (attribute.uri === XML_NAMESPACE && attribute.local === 'space' && (tag.local !== 'pre' || attribute.value !== 'preserve')) {
        stop(`<${tag.local} ${attribute.name}="${attribute.value.slice(0, 20)}"> is not allowed: the FHIR XHTML schema has xml:space="preserve" on <pre> only`);
      }
    }
    const parent = open.at(-1);
    if (parent && BLOCK.has(tag.local) && INLINE_CONTENT.has(parent)) {
      stop(`<${tag.local}> must not be inside <${parent}>: the FHIR XHTML schema allows only text and inline elements there`);
    }
    if (tag.local === 'img') {
      if (tag.attributes.src === undefined || tag.attributes.alt === undefined) stop('<img> must have both src and alt (the FHIR XHTML schema requires them)');
      if (parent === 'pre') stop('<img> must not be inside <pre> (the FHIR XHTML schema has no images there)');
      content = true;
    }
    open.push(tag.local);
  };
  parser.onclosetag = () => {
    depth--;
    open.pop();
  };
  // FHIR.js drops a narrative with a comment beside its <div>; it is no part of the div anyway.
  parser.oncomment = () => {
    if (depth === 0) stop('must be a single <div> element, with nothing but whitespace around it');
  };
  const onText = (text: string) => {
    if (/\S/.test(text)) content = true;
  };
  parser.ontext = onText;
  parser.oncdata = onText;
  parser.onerror = (error) => stop(`is not well-formed XHTML: ${String(error.message).split('\n')[0]}`);
  try {
    write(div);
  } catch (error) {
    if (error instanceof StopXml) return error.reason;
    throw error;
  }
  if (roots === 0) return 'must be a <div> element';
  if (cdataEndInText(div)) return 'is not well-formed XHTML: "]]>" in text (write ]]&gt;)';
  if (!content) return 'txt-2: the narrative must have some non-whitespace content';
  return undefined;
}

function attributeProblem(attribute: QualifiedAttribute): string | undefined {
  if (attribute.prefix === 'xmlns' || attribute.name === 'xmlns') return undefined; // a namespace declaration
  if (attribute.uri === XML_NAMESPACE) return attribute.local === 'lang' || attribute.local === 'space' ? undefined : 'is not allowed';
  if (attribute.prefix !== '' || !ATTRIBUTES.has(attribute.local)) {
    return /^on/i.test(attribute.local) ? 'is not allowed: no event attributes (scripts)' : 'is not allowed';
  }
  // A javascript: link is a script by another name (browsers skip blanks and controls in the scheme).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: skipping them is the point
  if ((attribute.local === 'href' || attribute.local === 'src') && /^(javascript|vbscript):/i.test(attribute.value.replace(/[\s\u0000-\u001F]/g, ''))) {
    return 'must not be a script URL';
  }
  return undefined;
}
