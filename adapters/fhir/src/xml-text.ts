import { createRequire } from 'node:module';
import type { SAXOptions, SAXParser } from 'sax';

/**
 * What XML 1.0 text may hold, and a strict SAX parser bounded against hostile input: shared by
 * the FHIR XML reader and writer (xml.ts) and the narrative check (validation/xhtml.ts).
 */

/**
 * Characters outside XML 1.0's Char production: C0 controls but tab, LF and CR; U+FFFE, U+FFFF;
 * unpaired surrogates. No XML 1.0 document can hold them, raw or as a character reference.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CHAR_REFERENCE = /&#(?:x([0-9a-fA-F]+)|([0-9]+));/g;

/** "U+0001" for a character (its code unit: unpaired surrogates have no code point of their own). */
export function codeOf(char: string): string {
  return `U+${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The first character in the text (raw) that XML 1.0 forbids, if any. */
export function nonXmlChar(text: string): string | undefined {
  return NOT_XML_CHAR.exec(text)?.[0];
}

/** Why XML text is not well-formed for its characters (raw, or as references like &#1;), or undefined. */
export function xmlCharProblem(text: string): string | undefined {
  const raw = nonXmlChar(text);
  if (raw !== undefined) return `character ${codeOf(raw)} is not allowed in XML 1.0`;
  for (const match of text.matchAll(CHAR_REFERENCE)) {
    const code = Number.parseInt(match[1] ?? match[2] ?? '', match[1] ? 16 : 10);
    const allowed = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
    if (!allowed) return `the character reference ${match[0].slice(0, 20)} is to a character XML 1.0 does not allow`;
  }
  return undefined;
}

/**
 * The writer's last guard: text from the PAS (a legacy column with a vertical tab) can hold
 * characters XML cannot carry. Each becomes U+FFFD, the replacement character, so the document
 * stays well-formed and a reader can see that a character was lost (dropping it would silently
 * join words). Tabs become &#9; so XML readers do not normalise them to spaces in attributes.
 */
export function xmlSafe(xml: string): string {
  return xml.replace(XML_WRITE_FIXES, (c) => (c === '\t' ? '&#9;' : '\uFFFD'));
}
/** What xmlSafe replaces: every character XML 1.0 forbids, and tabs. */
const XML_WRITE_FIXES = new RegExp(`\\t|${NOT_XML_CHAR.source}`, 'g');

/**
 * A number in plain decimal notation, as xs:decimal (the FHIR schema's) requires: JavaScript
 * writes 1e21 and 1e-7 in exponent form ("1e+21"), which XML readers refuse as a decimal.
 */
export function plainNumber(n: number): string {
  const text = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!m) return text;
  const [, sign, lead, fraction = '', exponent] = m;
  const digits = `${lead}${fraction}`;
  const point = 1 + Number(exponent); // where the decimal point falls in digits
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

const requireCjs = createRequire(import.meta.url);

/** Thrown (by a handler or the bound) to end a walk early; `reason` says why. */
export class StopXml extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * A strict SAX parser (XML 1.0 well-formedness, namespaces, only the five XML entities), fed in
 * slices so a tag with too many attributes is refused while it is being read: sax checks each
 * new attribute against all earlier ones of its tag, so 40,000 of them on one element cost seconds
 * of CPU before the tag's event would come.
 */
export function boundedSax(maxAttributes: number): { parser: SAXParser; write(text: string): void; tagText(): string } {
  const sax = requireCjs('sax') as typeof import('sax');
  const parser = sax.parser(true, { xmlns: true, strictEntities: true } as SAXOptions);
  // With xmlns, sax keeps the attributes of the tag being read here until the tag is complete.
  const pending = parser as unknown as { attribList?: unknown[] };
  let whole = '';
  const write = (text: string) => {
    whole = text;
    for (let at = 0; at < text.length; ) {
      let end = Math.min(at + SLICE, text.length);
      if (end < text.length && /[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end++; // keep a surrogate pair together
      parser.write(text.slice(at, end));
      at = end;
      if ((pending.attribList?.length ?? 0) > maxAttributes) throw new StopXml(`an element has more than ${maxAttributes} attributes`);
    }
    parser.close();
  };
  // The source of the tag just read (in onopentag): sax's positions count from the first write.
  const tagText = () => whole.slice(parser.startTagPosition - 1, parser.position);
  return { parser, write, tagText };
}

/**
 * A '<' in an attribute value of a tag's source (`<p title="a<b">`): not well-formed XML, which
 * sax does not check. Within one tag, the quoted strings are exactly the attribute values.
 */
export function ltInAttributeValue(tagText: string): boolean {
  return /=\s*(?:"[^"]*<|'[^']*<)/.test(tagText);
}

/** How many attributes a tag's source has (its '=' outside quoted values): sax silently drops a repeated one. */
export function attributesInSource(tagText: string): number {
  return tagText.replace(/"[^"]*"|'[^']*'/g, '').split('=').length - 1;
}

/**
 * "]]>" in character data, not well-formed and not checked by sax: the text once comments, CDATA
 * sections and tags (quoted values and all) are taken out. For a document sax has read without error.
 */
export function cdataEndInText(xml: string): boolean {
  return xml.includes(']]>') && xml.replace(/<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<(?:[^>"']|"[^"]*"|'[^']*')*>/g, '').includes(']]>');
}
/** Each slice can add at most ~SLICE/4 attributes past the bound before it is seen: a few hundred. */
const SLICE = 2048;
