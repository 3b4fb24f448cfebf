import { describe, expect, it } from 'vitest';
import { sampleBooking } from './booking-sample.js';
import { fromXml, MAX_XML_ATTRIBUTES, toXml } from '../src/index.js';
import { MAX_XHTML_ATTRIBUTES } from '../src/validation/xhtml.js';

/**
 * FHIR XML in and out beyond plain well-formedness: XML 1.0 characters, attributes bounded per
 * element, single-valued elements given once, no stray text; and a writer whose output any XML
 * 1.0 reader (and the FHIR schema's xs:decimal) takes.
 */

const NS = 'xmlns="http://hl7.org/fhir"';
const XHTML = 'xmlns="http://www.w3.org/1999/xhtml"';
const bookingXml = () => toXml(sampleBooking());

function problemOf(xml: string) {
  const result = fromXml(xml);
  expect(result.ok).toBe(false);
  return result.ok ? undefined : result.problem;
}

describe('reading: characters XML 1.0 does not allow are refused 400', () => {
  it.each([
    ['a raw U+0001', bookingXml().replace('Reason for calling', 'Reason\u0001'), 'U+0001'],
    ['a raw NUL', bookingXml().replace('Reason for calling', 'Reason\u0000'), 'U+0000'],
    ['the reference &#1;', bookingXml().replace('Reason for calling', 'Reason&#1;'), '&#1;'],
    ['the reference &#x0;', bookingXml().replace('Reason for calling', 'Reason&#x0;'), '&#x0;'],
    ['a reference to a surrogate &#xD800;', bookingXml().replace('Reason for calling', 'Reason&#xD800;'), '&#xD800;'],
    ['U+FFFF', bookingXml().replace('Reason for calling', 'Reason\uFFFF'), 'U+FFFF'],
  ])('%s', (_, xml, what) => {
    const problem = problemOf(xml);
    expect(problem).toMatchObject({ status: 400, spineCode: 'MESSAGE_NOT_WELL_FORMED' });
    expect(problem?.diagnostics).toContain(what);
  });

  it('takes tab, CR, LF and their references, and any other character', () => {
    const read = fromXml(bookingXml().replace('Reason for calling', 'a&#9;b&#xA;c&#13;d \t😀'));
    expect(read.ok && (read.value as Record<string, unknown>).description).toBe('a\tb\nc\rd \t😀');
  });
});

describe(`reading: attributes per element are bounded (${MAX_XML_ATTRIBUTES} on FHIR elements, ${MAX_XHTML_ATTRIBUTES} on narrative)`, () => {
  const declarations = (n: number) => Array.from({ length: n }, (_, i) => `xmlns:p${i}="urn:p${i}"`).join(' ');
  const attributes = (n: number) => Array.from({ length: n }, (_, i) => `a${i}="1"`).join(' ');

  it('refuses 400 a root with 40,000 namespace declarations', () => {
    const xml = bookingXml().replace(`<Appointment ${NS}>`, `<Appointment ${NS} ${declarations(40_000)}>`);
    expect(problemOf(xml)).toMatchObject({ status: 400, spineCode: 'BAD_REQUEST', diagnostics: expect.stringContaining('attributes') });
  });

  it('refuses it while reading the tag, before its end (an unfinished tag cannot get further)', () => {
    const problem = problemOf(`<Appointment ${NS} ${declarations(40_000)}`);
    expect(problem).toMatchObject({ status: 400, spineCode: 'BAD_REQUEST', diagnostics: expect.stringContaining(`more than ${MAX_XHTML_ATTRIBUTES} attributes`) });
  });

  it(`refuses 400 a FHIR element with ${MAX_XML_ATTRIBUTES + 1} attributes, takes one with ${MAX_XML_ATTRIBUTES}`, () => {
    const at = (n: number) => bookingXml().replace('<status value="booked"/>', `<status value="booked" ${attributes(n - 1)}/>`);
    expect(problemOf(at(MAX_XML_ATTRIBUTES + 1))).toMatchObject({ status: 400, diagnostics: expect.stringContaining(`<status> has more than ${MAX_XML_ATTRIBUTES} attributes`) });
    expect(fromXml(at(MAX_XML_ATTRIBUTES)).ok).toBe(true);
  });

  it('lets a narrative element have the attributes it may need', () => {
    const td = Array.from('abcdefghijklmnopqrst', (c) => `headers${c}="x"`).join(' ');
    const xml = `<Patient ${NS}><text><status value="generated"/><div ${XHTML}><p ${td}>x</p></div></text></Patient>`;
    expect(fromXml(xml).ok).toBe(true);
  });
});

describe('reading: a single-valued element given twice is refused 422 (as a JSON array where one value belongs)', () => {
  it.each([
    ['<gender> in the contained Patient', bookingXml().replace(/<gender value="([^"]*)"\/>/, '<gender value="$1"/><gender value="male"/>'), 'Appointment.contained[1].gender'],
    ['<description>', bookingXml().replace(/<description value="([^"]*)"\/>/, '<description value="$1"/><description value="other"/>'), 'Appointment.description'],
    ['<status>', bookingXml().replace('<status value="booked"/>', '<status value="booked"/><status value="cancelled"/>'), 'Appointment.status'],
    ['a resource in <contained>', bookingXml().replace('<contained><Patient>', `<contained><Basic><code><text value="x"/></code></Basic><Patient>`), 'Appointment.contained[1]'],
  ])('%s', (_, xml, expression) => {
    expect(problemOf(xml)).toMatchObject({ status: 422, spineCode: 'INVALID_RESOURCE', location: [expression] });
  });

  it('still takes repeated elements that repeat (given names, contained resources)', () => {
    const read = fromXml(bookingXml().replace(/<given value="Jane"\/>/, '<given value="Jane"/><given value="Ann"/>'));
    expect(read.ok && (read.value as any).contained[1].name[0].given).toEqual(['Jane', 'Ann']);
  });
});

describe('reading: text is refused 400 where FHIR has none', () => {
  const extension = '<extension url="https://example.org/x"><valueString value="y"/></extension>';
  it.each([
    ['between elements', bookingXml().replace('<status value="booked"/>', '<status value="booked"/>junk')],
    ['inside a primitive element beside its value attribute', bookingXml().replace('<status value="booked"/>', '<status value="booked">junk</status>')],
    ['as CDATA', bookingXml().replace('<status value="booked"/>', '<status value="booked"/><![CDATA[junk]]>')],
    ['inside <contained>', bookingXml().replace('<contained><Patient>', '<contained>junk<Patient>')],
    ['inside a complex element (mixed content)', bookingXml().replace('<description ', '<reason>Headache</reason><description ')],
    ['in a primitive element before a child element', bookingXml().replace('<status value="booked"/>', `<status>booked${extension}</status>`)],
    ['in a primitive element after a child element', bookingXml().replace('<status value="booked"/>', `<status>${extension}booked</status>`)],
    ['in a primitive element after an element FHIR ignores', bookingXml().replace('<status value="booked"/>', '<status><x xmlns="urn:x"/>booked</status>')],
  ])('%s', (_, xml) => {
    expect(problemOf(xml)).toMatchObject({ status: 400, spineCode: 'MESSAGE_NOT_WELL_FORMED', diagnostics: expect.stringContaining('text in Appointment') });
  });

  it('takes whitespace between elements (pretty printed, CRLF) and text in narrative', () => {
    expect(fromXml(bookingXml().replace(/></g, '>\r\n  <')).ok).toBe(true);
    expect(fromXml(`<Patient ${NS}><text><status value="generated"/><div ${XHTML}>Jane <b>Bloggs</b></div></text></Patient>`).ok).toBe(true);
  });
});

describe('reading: a primitive element with only text takes it as its value (the assurance harness writes <status>cancelled</status>)', () => {
  const value = (xml: string) => {
    const read = fromXml(xml);
    expect(read.ok, JSON.stringify(read)).toBe(true);
    return read.ok ? (read.value as any) : undefined;
  };

  it('reads the trimmed text of a code, a string, an instant, a boolean and an integer as each would be read from its value attribute', () => {
    const attributes = value(`<Patient ${NS}><active value="true"/><name><family value="Chalmers"/></name><multipleBirthInteger value="2"/></Patient>`);
    const texts = value(`<Patient ${NS}>\n  <active>true</active>\n  <name><family>\n    Chalmers\n  </family></name><multipleBirthInteger>2</multipleBirthInteger></Patient>`);
    expect(texts).toEqual(attributes);
    const sample = sampleBooking();
    const booking = value(toXml(sample).replace('<status value="booked"/>', '<status>cancelled</status>').replace(/<start value="([^"]+)"\/>/, '<start>$1</start>'));
    expect(booking).toEqual({ ...sample, status: 'cancelled' });
  });

  it('keeps the element id, reads entities, CDATA and text around a comment as one value', () => {
    const read = value(`<Patient ${NS}><name><family id="f1">O&apos;Brien &amp; <![CDATA[<Co>]]></family><given>A<!-- split -->nn</given></name></Patient>`);
    expect(read.name).toEqual([{ family: "O'Brien & <Co>", _family: { id: 'f1' }, given: ['Ann'] }]);
  });

  it('checks the text as it checks a value attribute: 422 for a boolean or integer of the wrong form', () => {
    expect(problemOf(`<Patient ${NS}><active>yes</active></Patient>`)).toMatchObject({ status: 422, location: ['Patient.active'] });
    expect(problemOf(`<Patient ${NS}><multipleBirthInteger>two</multipleBirthInteger></Patient>`)).toMatchObject({ status: 422, location: ['Patient.multipleBirthInteger'] });
  });

  it('keeps narrative as the body has it', () => {
    const div = `<div ${XHTML}>Jane <b>Bloggs</b></div>`;
    expect(value(`<Patient ${NS}><text><status>generated</status>${div}</text></Patient>`).text).toEqual({ status: 'generated', div });
  });
});

describe('writing: the XML is well-formed XML 1.0, with schema-valid decimals', () => {
  it('writes characters XML cannot carry (PAS text) as U+FFFD, and keeps tabs as &#9;', () => {
    const location = { resourceType: 'Location', id: 'L1', name: 'Ward 7\u000bNorth\u0000', description: 'a\tb\uFFFEc\uD800' };
    const xml = toXml(location);
    expect(xml).toContain('<name value="Ward 7\uFFFDNorth\uFFFD"/>');
    expect(xml).toContain('<description value="a&#9;b\uFFFDc\uFFFD"/>');
    expect(fromXml(xml)).toMatchObject({ ok: true, value: { name: 'Ward 7\uFFFDNorth\uFFFD', description: 'a\tb\uFFFDc\uFFFD' } });
  });

  it.each([
    [1e21, '1000000000000000000000'],
    [1e-7, '0.0000001'],
    [-1.5e-7, '-0.00000015'],
    [1.25e22, '12500000000000000000000'],
    [1.5, '1.5'],
  ])('writes the decimal %s in plain notation (%s), and reads it back as the same number', (value, plain) => {
    const patient = { resourceType: 'Patient', extension: [{ url: 'https://example.org/x', valueDecimal: value }] };
    const xml = toXml(patient);
    expect(xml).toContain(`<valueDecimal value="${plain}"/>`);
    expect(fromXml(xml)).toEqual({ ok: true, value: patient });
    expect(patient.extension[0]?.valueDecimal).toBe(value); // the resource itself is left as it was
  });
});

describe('writing: narrative goes into the XML as it was checked (FHIR.js rewrites it, not always well-formed)', () => {
  it.each([
    ['an escaped < in an attribute (FHIR.js wrote it raw)', `<div ${XHTML} title="a&lt;b">x</div>`],
    ['an escaped &amp; in an attribute (FHIR.js unescaped it once)', `<div ${XHTML} title="a&amp;amp;b">x</div>`],
    ['a line feed reference in an attribute', `<div ${XHTML} title="a&#10;b">x</div>`],
    ['CDATA, comments and an escaped entity', `<div ${XHTML}><![CDATA[a<b]]><!-- c --><p>&amp;lt;</p></div>`],
    ['tabs and line breaks between attributes (markup, not text)', `<div\t${XHTML}\r\n\tclass="x">a\tb</div>`],
  ])('%s', (_, div) => {
    const patient = { resourceType: 'Patient', text: { status: 'generated', div } };
    const xml = toXml(patient);
    expect(xml).toContain(`<text><status value="generated"/>${div}</text>`);
    expect(fromXml(xml)).toMatchObject({ ok: true, value: { text: { div: expect.stringContaining(div.slice(div.indexOf('>'))) } } });
  });

  it('refuses to write a narrative that is not FHIR XHTML (stored before the check): the caller answers another way', () => {
    expect(() => toXml({ resourceType: 'Patient', text: { status: 'generated', div: `<div ${XHTML}>line1<br>line2</div>` } })).toThrow(/narrative/);
  });
});

describe('reading: narrative is taken as the body has it (FHIR.js rewrites it, not always well-formed)', () => {
  it.each([
    ['an escaped < in an attribute (FHIR.js made it raw)', `<div ${XHTML} title="a&lt;b">x</div>`],
    ['an escaped &amp; in text (FHIR.js unescaped it once)', `<div ${XHTML}>a &amp;amp; b</div>`],
    ['a self-closing element and a comment', `<div ${XHTML}><!-- c --><img src="#a"/>x</div>`],
  ])('%s', (_, div) => {
    const read = fromXml(`<Patient ${NS}><text><status value="generated"/>${div}</text><active value="true"/></Patient>`);
    expect(read).toEqual({ ok: true, value: { resourceType: 'Patient', text: { status: 'generated', div }, active: true } });
  });

  it('in contained resources too', () => {
    const div = `<div ${XHTML} title="a&lt;b">x</div>`;
    const read = fromXml(`<Bundle ${NS}><type value="collection"/><entry><resource><Patient><text><status value="generated"/>${div}</text></Patient></resource></entry></Bundle>`);
    expect(read.ok && (read.value as any).entry[0].resource.text.div).toBe(div);
  });

  it.each([
    ['in a FHIR element', `<Patient ${NS}><name><family value="a<b"/></name></Patient>`],
    ['in narrative', `<Patient ${NS}><text><status value="generated"/><div ${XHTML} title="a<b">x</div></text></Patient>`],
  ])("refuses 400 a raw '<' in an attribute value %s (not well-formed; sax lets it through)", (_, xml) => {
    expect(problemOf(xml)).toMatchObject({ status: 400, spineCode: 'MESSAGE_NOT_WELL_FORMED', diagnostics: expect.stringContaining("'<' in an attribute value") });
  });

  it('refuses 400 an attribute given twice (sax kept the first)', () => {
    expect(problemOf(bookingXml().replace('<status value="booked"/>', '<status value="booked" value="cancelled"/>'))).toMatchObject({
      status: 400,
      spineCode: 'MESSAGE_NOT_WELL_FORMED',
      diagnostics: expect.stringContaining('<status> has an attribute twice'),
    });
  });
});

describe('reading: the work is linear in the body, whatever its shape', () => {
  /**
   * Characters the reader's regular expressions are given to scan (RegExp#exec, which test, match,
   * replace and split call once the prototype's exec is replaced), from where each scan starts.
   * Counted, not timed: re-scanning text already read shows as a count that grows with its square.
   */
  function scannedWhileReading(xml: string): number {
    const exec = RegExp.prototype.exec;
    let scanned = 0;
    RegExp.prototype.exec = function (this: RegExp, s: string) {
      scanned += String(s).length - (this.global || this.sticky ? this.lastIndex : 0);
      return exec.call(this, s);
    };
    try {
      fromXml(xml);
    } finally {
      RegExp.prototype.exec = exec;
    }
    return scanned;
  }

  // A ~1 KB gzipped body of this shape held the main thread for most of a minute when each child re-tested the text before it.
  it.each([
    ['whitespace, then many ignored child elements', (n: number) => `<status>${' '.repeat(4 * n)}${'<x/>'.repeat(n)}</status>`],
    ['whitespace between many ignored child elements', (n: number) => `<status>${'    <x/>'.repeat(n)}</status>`],
    ['whitespace, then many extensions', (n: number) => `<status>${' '.repeat(4 * n)}${'<extension url="u"/>'.repeat(n)}</status>`],
  ])('a primitive element holding %s', (_, inside) => {
    const xml = `<Appointment ${NS}>${inside(5_000)}</Appointment>`;
    expect(scannedWhileReading(xml)).toBeLessThan(50 * xml.length);
  });
});
