import { describe, expect, it } from 'vitest';
import { bookedAppointment, capabilityStatement, fromXml, MAX_XML_DEPTH, operationOutcome, problems, toXml, validateResource } from '../src/index.js';

/** FHIR STU3 XML ⇄ JSON through FHIR.js, and the checks in front of its lenient XML reader. */

const NS = 'xmlns="http://hl7.org/fhir"';
const CC = 'https://fhir.hl7.org.uk/STU3/StructureDefinition';

/** A booking as the assurance harness sends it (the shape of test/support/consumer.ts bookingBody). */
function bookingRequest(): Record<string, any> {
  return {
    resourceType: 'Appointment',
    meta: { profile: [`${CC}/CareConnect-Appointment-1`] },
    language: 'en-GB',
    contained: [
      {
        resourceType: 'DocumentReference',
        id: '123',
        meta: { profile: [`${CC}/CareConnect-DocumentReference-1`] },
        identifier: [{ system: 'https://tools.ietf.org/html/rfc4122', value: '0b6fe1a2-6c55-4a8e-9c0e-8c8f1b1e2a11' }],
        status: 'current',
        type: { coding: [{ system: 'urn:oid:2.16.840.1.113883.2.1.3.2.4.18.17', code: 'POCD_MT200001GB02', display: 'Integrated Urgent Care Report' }] },
        indexed: '2025-03-01T09:00:00.000Z',
        content: [{ attachment: { contentType: 'application/hl7-v3+xml', language: 'en' } }],
      },
      {
        resourceType: 'Patient',
        id: 'P1',
        meta: { profile: [`${CC}/CareConnect-Patient-1`] },
        identifier: [
          {
            extension: [
              {
                url: `${CC}/Extension-CareConnect-NHSNumberVerificationStatus-1`,
                valueCodeableConcept: { coding: [{ system: 'https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1', code: '01', display: 'Number present and verified' }] },
              },
            ],
            use: 'official',
            system: 'https://fhir.nhs.uk/Id/nhs-number',
            value: '9658218873',
          },
        ],
        name: [{ use: 'official', prefix: ['Mrs'], given: ['Jane'], family: 'Bloggs' }],
        telecom: [{ system: 'phone', value: '01234 567890', use: 'home', rank: 1 }],
        gender: 'female',
        birthDate: '1970-01-01',
        address: [{ use: 'home', line: ['1 High Street'], city: 'Leeds', postalCode: 'LS1 1AA' }],
      },
      {
        resourceType: 'Slot',
        id: '1001',
        identifier: [{ system: 'https://tools.ietf.org/html/rfc4122', value: 'f3a0c1de-0000-4000-8000-000000001001' }],
        schedule: { reference: 'Schedule/CLINIC1' },
        status: 'busy',
        start: '2025-03-02T10:00:00+00:00',
        end: '2025-03-02T10:10:00+00:00',
      },
    ],
    status: 'booked',
    start: '2025-03-02T10:00:00+00:00',
    end: '2025-03-02T10:10:00+00:00',
    created: '2025-03-01T09:00:00.000Z',
    description: 'Reason for calling',
    slot: [{ reference: '#1001' }],
    supportingInformation: [{ reference: '#123' }],
    participant: [
      {
        actor: { reference: '#P1', identifier: { use: 'official', system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9658218873' }, display: 'Jane Bloggs' },
        status: 'accepted',
      },
    ],
  };
}

const searchset = {
  resourceType: 'Bundle',
  id: 'b1',
  meta: { lastUpdated: '2025-03-01T09:00:00+00:00' },
  type: 'searchset',
  total: 1,
  link: [{ relation: 'self', url: 'https://provider.example/STU3/1/Slot?status=free&_include=Slot:schedule' }],
  entry: [
    {
      fullUrl: 'https://provider.example/STU3/1/Slot/1001',
      resource: {
        resourceType: 'Slot',
        id: '1001',
        meta: { profile: [`${CC}/CareConnect-Slot-1`] },
        extension: [{ url: `${CC}/Extension-CareConnect-DeliveryChannel-1`, valueCode: 'In-person' }],
        identifier: [{ system: 'https://tools.ietf.org/html/rfc4122', value: 'f3a0c1de-0000-4000-8000-000000001001' }],
        schedule: { reference: 'Schedule/CLINIC1' },
        status: 'free',
        start: '2025-03-02T10:00:00+00:00',
        end: '2025-03-02T10:10:00+00:00',
      },
      search: { mode: 'match' },
    },
    ...[
      {
        resourceType: 'Schedule',
        id: 'CLINIC1',
        identifier: [{ system: 'https://fhir.example-trust.nhs.uk/Id/clinic-code', value: 'CLINIC1' }],
        actor: [{ reference: 'HealthcareService/100' }, { reference: 'Practitioner/P9' }, { reference: 'PractitionerRole/R9' }],
      },
      {
        resourceType: 'HealthcareService',
        id: '100',
        identifier: [{ system: 'https://fhir.nhs.uk/Id/dos-service-id', value: '100' }],
        active: true,
        providedBy: { reference: 'Organization/RXX' },
        location: [{ reference: 'Location/L1' }],
        name: 'Urgent Treatment Centre',
        telecom: [{ system: 'phone', value: '0113 000 0000' }],
      },
      { resourceType: 'Practitioner', id: 'P9', identifier: [{ system: 'https://fhir.nhs.uk/Id/sds-user-id', value: 'G123456' }], name: [{ family: 'Who', given: ['Doctor', 'J'], prefix: ['Dr'] }], gender: 'unknown' },
      {
        resourceType: 'PractitionerRole',
        id: 'R9',
        practitioner: { reference: 'Practitioner/P9' },
        organization: { reference: 'Organization/RXX' },
        code: [{ coding: [{ system: 'https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-SDSJobRoleName-1', code: 'R0260', display: 'General Medical Practitioner' }] }],
      },
      { resourceType: 'Organization', id: 'RXX', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RXX' }], name: 'Example NHS Trust' },
      {
        resourceType: 'Location',
        id: 'L1',
        name: 'Main site',
        address: { line: ['Hospital Road'], city: 'Leeds', postalCode: 'LS2 9JT' },
        position: { longitude: -1.5491, latitude: 53.8008, altitude: 0 },
        managingOrganization: { reference: 'Organization/RXX' },
      },
    ].map((resource) => ({ fullUrl: `https://provider.example/STU3/1/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'include' } })),
  ],
};

function roundTrip(resource: object) {
  const xml = toXml(resource);
  const back = fromXml(xml);
  if (!back.ok) throw new Error(back.problem.diagnostics);
  return { xml, back: back.value };
}

function problemOf(xml: string) {
  const result = fromXml(xml);
  expect(result.ok).toBe(false);
  return result.ok ? undefined : result.problem;
}

describe('FHIR XML round trips (JSON → XML → JSON deep-equal)', () => {
  it('a Booking API Appointment with its three contained resources', () => {
    const booking = bookingRequest();
    const { xml, back } = roundTrip(booking);
    expect(back).toEqual(booking);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?><Appointment xmlns="http://hl7.org/fhir">')).toBe(true);
    expect(xml).toContain('<contained><Patient><id value="P1"/>');
  });

  it('the booked Appointment the server returns', () => {
    const booked = bookedAppointment(bookingRequest(), { id: 'a1b2', versionId: '1', lastUpdated: '2025-03-01T09:00:01.000Z' }, undefined);
    expect(roundTrip(booked).back).toEqual(booked);
  });

  it('a Spine OperationOutcome, with and without a location', () => {
    for (const p of [problems.slotUnavailable(), problems.invalidResource('Appointment.end is missing', ['Appointment.end'])]) {
      const oo = operationOutcome(p, 'e1');
      expect(roundTrip(oo).back).toEqual(oo);
    }
  });

  it('a searchset Bundle with Slot, Schedule, HealthcareService, Practitioner, PractitionerRole, Organization and Location', () => {
    const { xml, back } = roundTrip(searchset);
    expect(back).toEqual(searchset);
    expect(xml).toContain('<position><longitude value="-1.5491"/><latitude value="53.8008"/><altitude value="0"/></position>');
  });

  it('the CapabilityStatement', () => {
    const statement = capabilityStatement({
      publisher: 'Example Trust',
      softwareName: 'booking-facade',
      softwareVersion: '0.1.0',
      releaseDate: '2025-01-01',
      apiVersion: '2.0.4',
      appointmentInteractions: ['create', 'read', 'vread', 'update'],
      slotInteractions: ['search-type'],
    });
    expect(roundTrip(statement).back).toEqual(statement);
  });

  it('primitive extensions and ids (_given with a null), narrative, and decimals as numbers', () => {
    const patient = {
      resourceType: 'Patient',
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Jane &amp; <b>Bloggs</b></p></div>' },
      extension: [{ url: 'https://example.org/ext/score', valueDecimal: 1.25 }],
      name: [{ given: ['Jane', 'Ann'], _given: [null, { id: 'g2' }] }],
    };
    expect(roundTrip(patient).back).toEqual(patient);
  });
});

describe('reading XML: what FHIR.js would silently accept is refused first', () => {
  it('reads a plain document with a declaration, comments and a byte order mark', () => {
    const result = fromXml(`\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<!-- note -->\n<Patient ${NS}><active value="true"/></Patient>\n`);
    expect(result).toEqual({ ok: true, value: { resourceType: 'Patient', active: true } });
  });

  it.each([
    ['billion laughs', `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><Patient ${NS}><name><family value="&lol3;"/></name></Patient>`],
    ['an external entity (XXE)', `<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Patient ${NS}><name><family value="&xxe;"/></name></Patient>`],
    ['a bare DOCTYPE', `<!DOCTYPE Patient><Patient ${NS}><active value="true"/></Patient>`],
    ['a lower-case doctype', `<!doctype Patient><Patient ${NS}/>`],
  ])('400 for %s, without expanding anything', (_name, xml) => {
    const problem = problemOf(xml);
    expect(problem).toMatchObject({ status: 400, spineCode: 'BAD_REQUEST' });
    expect(problem?.diagnostics).toMatch(/DTD/);
  });

  it.each([
    ['an unclosed root', `<Patient ${NS}><active value="true"/>`],
    ['a truncated document', `<Patient ${NS}><name><family value="X"/></na`],
    ['two root elements', `<Patient ${NS}/><Patient ${NS}/>`],
    ['mismatched tags', `<Patient ${NS}><name></family></Patient>`],
    ['text after the root', `<Patient ${NS}/>junk`],
    ['an HTML entity XML does not define', `<Patient ${NS}><name><family value="Ren&eacute;"/></name></Patient>`],
    ['an empty body', ''],
    ['JSON', '{"resourceType":"Patient"}'],
    ['an unquoted attribute', `<Patient ${NS}><active value=true/></Patient>`],
  ])('400 MESSAGE_NOT_WELL_FORMED for %s', (_name, xml) => {
    expect(problemOf(xml)).toMatchObject({ status: 400, code: 'structure', spineCode: 'MESSAGE_NOT_WELL_FORMED' });
  });

  it.each([
    ['no namespace', '<Patient><active value="true"/></Patient>'],
    ['another namespace', '<Patient xmlns="urn:not-fhir"><active value="true"/></Patient>'],
    ['a prefixed FHIR root', '<f:Patient xmlns:f="http://hl7.org/fhir"><f:active value="true"/></f:Patient>'],
  ])('400 BAD_REQUEST for a root element with %s', (_name, xml) => {
    expect(problemOf(xml)).toMatchObject({ status: 400, spineCode: 'BAD_REQUEST', diagnostics: expect.stringContaining('namespace') });
  });

  it.each([
    ['an unknown resource type', `<Nope ${NS}/>`, 'Unknown resource type'],
  ])('400 BAD_REQUEST for %s', (_name, xml, why) => {
    expect(problemOf(xml)).toMatchObject({ status: 400, spineCode: 'BAD_REQUEST', diagnostics: expect.stringContaining(why) });
  });

  it.each([
    ['a boolean that is not one', `<Patient ${NS}><active value="yes"/></Patient>`, 'Patient.active'],
    ['an integer that is not one', `<Appointment ${NS}><priority value="ten"/></Appointment>`, 'Appointment.priority'],
    ['a negative positiveInt', `<Appointment ${NS}><minutesDuration value="-5"/></Appointment>`, 'Appointment.minutesDuration'],
  ])('422 INVALID_RESOURCE naming the element for %s, as the same JSON gets', (_name, xml, expression) => {
    expect(problemOf(xml)).toMatchObject({ status: 422, spineCode: 'INVALID_RESOURCE', location: [expression] });
  });

  it('400 for nesting deeper than the limit, before FHIR.js would recurse into it', () => {
    const nested = (depth: number) => `<Patient ${NS}>${'<extension url="x">'.repeat(depth)}${'</extension>'.repeat(depth)}</Patient>`;
    expect(fromXml(nested(MAX_XML_DEPTH - 2)).ok).toBe(true);
    expect(problemOf(nested(MAX_XML_DEPTH))).toMatchObject({ status: 400, diagnostics: expect.stringContaining('nested') });
    expect(problemOf(nested(20_000))).toMatchObject({ status: 400 });
  });

  it('reads a narrative (XHTML namespace) and contained resources without marking anything unknown', () => {
    const xml = `<Organization ${NS}><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>The <b>Trust</b></p></div></text><active value="true"/><name value="The Trust"/></Organization>`;
    const read = fromXml(xml);
    expect(read.ok && validateResource(read.value)).toBeUndefined();
    const booking = fromXml(toXml(bookingRequest()));
    expect(booking).toEqual({ ok: true, value: bookingRequest() });
  });

  it('ignores elements STU3 does not define and elements of other namespaces, as in JSON (spec §4)', () => {
    const read = fromXml(
      `<Patient ${NS}><shoeSize value="9"><size value="x"/></shoeSize><active value="true"/>` +
        // FHIR.js reads any unprefixed element by its name, whatever its namespace: this <name> is not FHIR's.
        `<name xmlns="urn:example:other"><family value="Other"/></name>` +
        `<name><colour value="red"/><family value="B"/></name><o:gender xmlns:o="urn:example:other" value="male"/>` +
        `<name><given value="A"/></name></Patient>`,
    );
    expect(read).toEqual({ ok: true, value: { resourceType: 'Patient', active: true, name: [{ family: 'B' }, { given: ['A'] }] } });
  });

  it('still refuses an element left empty once its unknown content is gone, as in JSON, and FHIR elements it cannot read', () => {
    const read = fromXml(`<Patient ${NS}><name><colour value="red"/></name></Patient>`);
    expect(validateResource(read.ok && read.value)?.location).toEqual(['Patient.name[0]']);
    // FHIR.js matches element names literally: a prefixed FHIR element would be lost without a word.
    expect(fromXml(`<Patient ${NS} xmlns:f="http://hl7.org/fhir"><f:active value="true"/></Patient>`)).toMatchObject({ ok: false, problem: { status: 400 } });
  });

  it('refuses to write an object without a resourceType', () => {
    expect(() => toXml({ id: 'x' })).toThrow();
  });
});

describe('reading XML: comments are no part of the resource (FHIR.js would make fhir_comments of them)', () => {
  const read = (xml: string) => {
    const result = fromXml(xml);
    if (!result.ok) throw new Error(result.problem.diagnostics);
    return result.value as Record<string, any>;
  };

  it('a comment before a primitive element (<status>, <given>) leaves no _status or _given: the booking is valid', () => {
    const xml = toXml(bookingRequest());
    const commented = xml
      .replace('<status value="booked"/>', '<!-- a new booking --><status value="booked"/>')
      .replace('<given value="Jane"/>', '<!-- first name --><given value="Jane"/>');
    expect(commented).not.toBe(xml);
    const body = read(commented);
    expect(body).toEqual(read(xml));
    expect(validateResource(body)).toBeUndefined();
  });

  it('a comment beside a narrative div is cut; one inside the div stays, as the body has it', () => {
    const div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>a<!-- kept --></p></div>';
    const body = read(`<Patient ${NS}><text><status value="generated"/><!-- n -->${div}<!-- m --></text><active value="true"/></Patient>`);
    expect(body).toEqual({ resourceType: 'Patient', text: { status: 'generated', div }, active: true });
  });

  it('each comment is cut exactly, with CRLF, multi-byte characters, comments inside unknown elements and across the 2 KB slices sax reads', () => {
    const document = (pad: number, comments: boolean) => {
      const c = (text: string) => (comments ? `<!--${text}-->` : '');
      return [
        `<?xml version="1.0" encoding="UTF-8"?>\r\n${c(' before the root ')}\r\n<Patient ${NS}>\r\n`,
        `<text><status value="generated"/>${c('é')}<div xmlns="http://www.w3.org/1999/xhtml">Zoë 😀<!-- in the narrative, kept --></div></text>\r\n`,
        ' '.repeat(pad),
        `${c(' 😀 née\r\n second line ')}<active value="true"/>\r\n`,
        `<vendorFlag ${NS}>${c(' inside an unknown element ')}<x value="1"/>${c('')}</vendorFlag>${c('<name> in a comment')}\r\n`,
        `<name>${c('ß')}<family value="Ñoño 😀"/>${c('\r\n')}<given value="Zoë"/>${c(' given ')}<given value="Ann"/></name>${c(' after ')}\r\n`,
        `</Patient>${c(' after the root ')}\r\n`,
      ].join('');
    };
    const expected = read(document(0, false));
    expect(expected).toMatchObject({ active: true, name: [{ family: 'Ñoño 😀', given: ['Zoë', 'Ann'] }] });
    expect(expected.text.div).toContain('<!-- in the narrative, kept -->');
    // Pads that put each comment, and the characters around it, on both sides of the slice boundaries.
    for (let pad = 1800; pad < 2100; pad++) expect(read(document(pad, true)), `pad ${pad}`).toEqual(expected);
  });
});
