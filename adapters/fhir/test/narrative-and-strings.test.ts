import { describe, expect, it } from 'vitest';
import { sampleBooking } from './booking-sample.js';
import { checkBookingRequest, toXml, validateResource } from '../src/index.js';
import { MAX_XHTML_ATTRIBUTES, xhtmlProblem } from '../src/validation/xhtml.js';

/**
 * What a stored resource may hold so that it can always be written in both formats: narrative
 * that is FHIR XHTML (txt-1, txt-2), strings without control characters.
 */

const XHTML = 'xmlns="http://www.w3.org/1999/xhtml"';

function withNarrative(div: string) {
  const body = sampleBooking();
  body.text = { status: 'generated', div };
  return body;
}

describe('narrative (text.div) is FHIR XHTML', () => {
  it.each([
    ['plain text', `<div ${XHTML}>Booked by 111</div>`],
    ['formatting, a table and a link', `<div ${XHTML}><p class="x" style="color:red">a &amp; <b>b</b><br/>c</p><table border="1"><tr><td colspan="2">1</td></tr></table><a href="https://example.org">x</a></div>`],
    ['xml:lang, a character reference and a comment', `<div ${XHTML} xml:lang="en-GB"><!-- note --><p lang="en">&#160;caf&#xE9;</p></div>`],
    ['"]]>" where XML allows it (attribute, comment, CDATA, escaped)', `<div ${XHTML}><p title="]]>" class='a>b'><!-- ]]> --><![CDATA[ ]] ]]>]]&gt;</p></div>`],
    ['only an image with a source (txt-2)', `<div ${XHTML}><img src="#pic" alt=""/></div>`],
    ['xml:space="preserve" on <pre>, blocks in div, li, td and blockquote', `<div ${XHTML}><pre xml:space="preserve"> a <b>b</b></pre><ul><li><p>x</p></li></ul><table><tr><td><div>y</div></td></tr></table><blockquote><p>q</p></blockquote></div>`],
  ])('accepts %s, and the XML writer can write it', (_, div) => {
    const body = withNarrative(div);
    expect(validateResource(body)).toBeUndefined();
    expect(() => toXml(body)).not.toThrow();
  });

  it.each([
    ['HTML, not XML (<br> never closed)', `<div ${XHTML}>line1<br>line2</div>`, /not well-formed/],
    ['an unclosed element', `<div ${XHTML}><p>a</div>`, /not well-formed/],
    ['an HTML entity XML does not define', `<div ${XHTML}>a&nbsp;b</div>`, /not well-formed/],
    ["a raw '<' in an attribute value", `<div ${XHTML}><p title="a<b">x</p></div>`, /'<' in an attribute value/],
    ['an attribute given twice', `<div ${XHTML}><p title="a" class="c" title="b">x</p></div>`, /attribute twice/],
    ['"]]>" in text', `<div ${XHTML}><p title="]]>">a]]>b</p></div>`, /"\]\]>" in text/],
    ['no XHTML namespace', '<div>x</div>', /XHTML namespace/],
    ['another root element', `<p ${XHTML}>x</p>`, /<div>/],
    ['two roots', `<div ${XHTML}>x</div><div ${XHTML}>y</div>`, /not well-formed|single/],
    ['text before the div', `x<div ${XHTML}>y</div>`, /not well-formed/],
    ['a comment beside the div (FHIR.js drops the whole narrative)', `<div ${XHTML}>y</div><!-- c -->`, /nothing but whitespace/],
    ['a script', `<div ${XHTML}><script>alert(1)</script></div>`, /txt-1: <script>/],
    ['an event attribute', `<div ${XHTML}><p onclick="alert(1)">x</p></div>`, /txt-1: <p onclick> .*event/],
    ['a form', `<div ${XHTML}><form><input/></form>x</div>`, /txt-1: <form>/],
    ['an iframe', `<div ${XHTML}><iframe src="https://example.org"/>x</div>`, /txt-1: <iframe>/],
    ['a javascript: link', `<div ${XHTML}><a href=" java\tscript:alert(1)">x</a></div>`, /script URL/],
    ['an element of another namespace', `<div ${XHTML}><svg xmlns="http://www.w3.org/2000/svg"/>x</div>`, /XHTML namespace/],
    ['a processing instruction', `<div ${XHTML}><?php echo 1 ?>x</div>`, /processing instructions/],
    ['a DTD', `<!DOCTYPE div><div ${XHTML}>x</div>`, /DTD/],
    ['no content (txt-2)', `<div ${XHTML}> <p> </p></div>`, /txt-2/],
    ['xml:space on the div (the schema has it on <pre> only)', `<div ${XHTML} xml:space="preserve">x</div>`, /xml:space="preserve" on <pre> only/],
    ['xml:space="default" on <pre> (fixed "preserve")', `<div ${XHTML}><pre xml:space="default">x</pre></div>`, /xml:space="preserve" on <pre> only/],
    ['<img> without alt', `<div ${XHTML}>x<img src="a.png"/></div>`, /<img> must have both src and alt/],
    ['<img> without src', `<div ${XHTML}>x<img alt="a"/></div>`, /<img> must have both src and alt/],
    ['<p> inside <span>', `<div ${XHTML}><span><p>x</p></span></div>`, /<p> must not be inside <span>/],
    ['<div> inside <p>', `<div ${XHTML}><p><div>x</div></p></div>`, /<div> must not be inside <p>/],
    ['<p> inside <p>', `<div ${XHTML}><p>a<p>x</p></p></div>`, /<p> must not be inside <p>/],
    ['a table inside <b>', `<div ${XHTML}><b><table><tr><td>x</td></tr></table></b></div>`, /<table> must not be inside <b>/],
    ['an image inside <pre>', `<div ${XHTML}><pre>x<img src="a.png" alt="a"/></pre></div>`, /<img> must not be inside <pre>/],
    ['a list inside <a>', `<div ${XHTML}><a href="#x"><ul><li>x</li></ul></a></div>`, /<ul> must not be inside <a>/],
    ['a control character', `<div ${XHTML}>a\u0001b</div>`, /U\+0001/],
    ['a character reference to a control character', `<div ${XHTML}>a&#1;b</div>`, /&#1;/],
  ])('refuses %s with 422 naming Appointment.text.div, before any job', (_, div, why) => {
    const checked = checkBookingRequest(withNarrative(div));
    expect(checked.ok).toBe(false);
    const problem = checked.ok ? undefined : checked.problem;
    expect(problem).toMatchObject({ status: 422, spineCode: 'INVALID_RESOURCE', location: ['Appointment.text.div'] });
    expect(problem?.diagnostics).toMatch(why);
  });

  it('checks the narrative of contained resources too', () => {
    const body = sampleBooking();
    body.contained[1].text = { status: 'generated', div: `<div ${XHTML}><script>x</script></div>` };
    expect(validateResource(body)?.location).toContain('Appointment.contained[1].text.div');
  });

  it(`refuses an element with more than ${MAX_XHTML_ATTRIBUTES} attributes while reading it`, () => {
    const many = Array.from({ length: 50_000 }, (_, i) => `xmlns:p${i}="u${i}"`).join(' ');
    expect(xhtmlProblem(`<div ${XHTML} ${many}>x</div>`)).toMatch(`more than ${MAX_XHTML_ATTRIBUTES} attributes`);
    // Unfinished: sax never gets to the tag's end, so only the bound while reading can refuse it for its attributes.
    expect(xhtmlProblem(`<div ${XHTML} ${many}`)).toMatch(`more than ${MAX_XHTML_ATTRIBUTES} attributes`);
  });
});

describe('strings hold no control characters (FHIR: none below U+0020 but tab, CR, LF)', () => {
  it.each([
    ['a NUL in a family name', (b: Record<string, any>) => (b.contained[1].name[0].family = 'Blo\u0000ggs'), 'Appointment.contained[1].name[0].family', 'U+0000'],
    ['U+0001 in the description', (b: Record<string, any>) => (b.description = 'Reason\u0001 for calling'), 'Appointment.description', 'U+0001'],
    ['an escape sequence in a comment', (b: Record<string, any>) => (b.comment = 'red\u001b[31m'), 'Appointment.comment', 'U+001B'],
    ['a vertical tab in a code', (b: Record<string, any>) => (b.contained[1].gender = 'fe\u000bmale'), 'Appointment.contained[1].gender', 'U+000B'],
    ['a form feed in a uri', (b: Record<string, any>) => (b.contained[1].identifier[0].system = 'https://fhir.nhs.uk/Id/nhs-number\f'), 'Appointment.contained[1].identifier[0].system', 'U+000C'],
    ['U+FFFF (XML cannot carry it)', (b: Record<string, any>) => (b.description = 'x\uFFFF'), 'Appointment.description', 'U+FFFF'],
    ['an unpaired surrogate', (b: Record<string, any>) => (b.description = 'x\uD800y'), 'Appointment.description', 'U+D800'],
  ])('refuses %s with 422 naming the element', (_, spoil, expression, char) => {
    const body = sampleBooking();
    spoil(body);
    const problem = validateResource(body);
    expect(problem).toMatchObject({ status: 422, spineCode: 'INVALID_RESOURCE', location: [expression] });
    expect(problem?.diagnostics).toContain(char);
  });

  it('accepts tab, CR, LF and any other Unicode text', () => {
    const body = sampleBooking();
    body.description = 'Line 1\r\nLine 2\twith a tab';
    body.comment = 'é😀\u2028 \u007f\u0085';
    expect(validateResource(body)).toBeUndefined();
  });
});
