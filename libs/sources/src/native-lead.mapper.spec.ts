import { LeadMappingError, SourceFetchError } from '@app/leads';
import { adapterFor } from './adapters';
import { JsonataLeadMapper } from './native-lead.mapper';
import { SourceRecordFetcher } from './record.fetcher';
import { FetchRequest, NativeEvent, SourceDefinition } from './source.types';
import {
  DYNAMICS_CONTEXT,
  FACEBOOK_LEAD,
  FACEBOOK_LEADGEN,
  HUBSPOT_CONTACT,
  HUBSPOT_V3_EVENTS,
  HUBSPOT_WORKFLOW_BODY,
  jsonRequest,
  PIPEDRIVE_DEAL_CREATED,
  PIPEDRIVE_PERSON_ANSWER,
  PIPEDRIVE_PERSON_CREATED,
  salesforceMessage,
  TEST_SOURCES,
  TYPEFORM_RESPONSE,
  xmlRequest,
  ZOHO_FORM,
} from './testing/native-fixtures';

/** A fetcher that answers from memory (the real one is tested against a real HTTP server). */
class MemoryFetcher {
  readonly requests: FetchRequest[] = [];
  constructor(private readonly answers: Record<string, unknown>) {}
  async fetch(_source: SourceDefinition, request: FetchRequest): Promise<unknown> {
    this.requests.push(request);
    const answer = this.answers[`${request.platform}:${request.id}`];
    if (answer instanceof Error) throw answer;
    if (answer === undefined) throw new SourceFetchError(`not found ${request.id}`, 'permanent', 404);
    return answer;
  }
}

function mapperWith(answers: Record<string, unknown> = {}) {
  const fetcher = new MemoryFetcher(answers);
  return { mapper: new JsonataLeadMapper(fetcher as unknown as SourceRecordFetcher), fetcher };
}

function firstEvent(source: SourceDefinition, request: ReturnType<typeof jsonRequest>): NativeEvent {
  return adapterFor(source.type).split(request).events[0];
}

describe('default mappings, field by field', () => {
  it('hubspot v3: fetches the contact and maps it', async () => {
    const { mapper, fetcher } = mapperWith({ 'hubspot:123': HUBSPOT_CONTACT });
    const lead = await mapper.map(TEST_SOURCES.hubspot, firstEvent(TEST_SOURCES.hubspot, jsonRequest(HUBSPOT_V3_EVENTS)));
    expect(fetcher.requests).toEqual([{ platform: 'hubspot', object: 'contact', id: '123' }]);
    expect(lead).toEqual({
      origin: 'HubSpot',
      backref: 'https://app.hubspot.com/contacts/62515/record/0-1/123',
      prospect: {
        first_name: 'Anne',
        last_name: 'Peeters',
        email: 'anne.peeters@example.be',
        telephonenr: '+32 470 12 34 56',
        birth: '1985-04-12',
        language: 'NL',
        address: { street: 'Kerkstraat', housenr: '12', boxnr: '3', zipcode: '9000', city: 'Gent', country_code: 'BE' },
        company: { name: 'Peeters BV' },
        external_ref: { external_ref: '123', external_ref_company: 'HubSpot' },
      },
    });
  });

  it('hubspot workflow: the old property format, a mobile phone when phone is empty, an epoch birth date', async () => {
    const { mapper } = mapperWith();
    const source = { ...TEST_SOURCES.hubspot, origin: 'Website' };
    const lead = await mapper.map(source, firstEvent(source, jsonRequest(HUBSPOT_WORKFLOW_BODY)));
    expect(lead).toEqual({
      origin: 'Website',
      backref: 'https://app.hubspot.com/contacts/62515/record/0-1/451',
      prospect: {
        first_name: 'Luc',
        last_name: 'Dubois',
        email: 'luc.dubois@example.be',
        telephonenr: '+32 478 00 00 00',
        birth: '1980-01-01',
        language: 'FR',
        external_ref: { external_ref: '451', external_ref_company: 'HubSpot' },
      },
    });
  });

  it('pipedrive person: the primary e-mail, a backref on the company host', async () => {
    const { mapper, fetcher } = mapperWith();
    const lead = await mapper.map(TEST_SOURCES.pipedrive, firstEvent(TEST_SOURCES.pipedrive, jsonRequest(PIPEDRIVE_PERSON_CREATED)));
    expect(fetcher.requests).toEqual([]);
    expect(lead).toEqual({
      origin: 'Pipedrive',
      backref: 'https://acme.pipedrive.com/person/42',
      prospect: {
        first_name: 'Sofie',
        last_name: 'Janssens',
        email: 'sofie@example.be',
        telephonenr: '+32 499 11 22 33',
        external_ref: { external_ref: '42', external_ref_company: 'Pipedrive' },
      },
    });
  });

  it('pipedrive deal: fetches its person', async () => {
    const { mapper, fetcher } = mapperWith({ 'pipedrive:42': PIPEDRIVE_PERSON_ANSWER });
    const lead = await mapper.map(TEST_SOURCES.pipedrive, firstEvent(TEST_SOURCES.pipedrive, jsonRequest(PIPEDRIVE_DEAL_CREATED)));
    expect(fetcher.requests).toEqual([{ platform: 'pipedrive', object: 'person', id: '42' }]);
    expect(lead.prospect).toMatchObject({ first_name: 'Sofie', last_name: 'Janssens', external_ref: { external_ref: '42' } });
  });

  it('pipedrive deal without a person: a mapping error naming data.person_id', async () => {
    const { mapper } = mapperWith();
    const deal = { ...PIPEDRIVE_DEAL_CREATED, data: { ...PIPEDRIVE_DEAL_CREATED.data, person_id: null } };
    await expect(mapper.map(TEST_SOURCES.pipedrive, firstEvent(TEST_SOURCES.pipedrive, jsonRequest(deal)))).rejects.toMatchObject({
      name: 'LeadMappingError',
      problems: [{ field: 'data.person_id', message: 'data.person_id is required' }],
    });
  });

  it('salesforce: each notification a lead, XML entities decoded, nil fields left out, the org URL as backref', async () => {
    const { mapper } = mapperWith();
    const split = adapterFor('salesforce').split(xmlRequest(salesforceMessage(2)));
    const lead = await mapper.map(TEST_SOURCES.salesforce, split.events[1]);
    expect(lead).toEqual({
      origin: 'Salesforce',
      backref: 'https://acme.my.salesforce.com/00Q5g00000Lead1',
      prospect: {
        first_name: 'Marie',
        last_name: 'Martin',
        email: 'marie.martin1@example.be',
        telephonenr: '+32 81 00 00 01',
        address: { street: 'Rue de Fer', housenr: '25', zipcode: '5000', city: 'Namur', country_code: 'BE' },
        company: { name: 'Martin & Fils' },
        external_ref: { external_ref: '00Q5g00000Lead1', external_ref_company: 'Salesforce' },
      },
    });
  });

  it('typeform: answers by ref, e-mail by answer type, language from a hidden field', async () => {
    const { mapper } = mapperWith();
    const lead = await mapper.map(TEST_SOURCES.typeform, firstEvent(TEST_SOURCES.typeform, jsonRequest(TYPEFORM_RESPONSE)));
    expect(lead).toEqual({
      origin: 'Typeform',
      prospect: {
        first_name: 'Julie',
        last_name: 'Lambert',
        email: 'julie.lambert@example.be',
        telephonenr: '+32471000000',
        birth: '1990-02-28',
        language: 'FR',
        external_ref: { external_ref: 'a3a12ec67a1365927098a606107fac15', external_ref_company: 'Typeform' },
      },
    });
  });

  it('facebook: fetches each lead; full_name split; a US-style birth date', async () => {
    const { mapper, fetcher } = mapperWith({ 'facebook:123123123123': FACEBOOK_LEAD });
    const lead = await mapper.map(TEST_SOURCES.facebook, firstEvent(TEST_SOURCES.facebook, jsonRequest(FACEBOOK_LEADGEN)));
    expect(fetcher.requests).toEqual([{ platform: 'facebook', object: 'leadgen', id: '123123123123' }]);
    expect(lead).toEqual({
      origin: 'Facebook Lead Ads',
      prospect: {
        first_name: 'Tom',
        last_name: 'Van den Broeck',
        email: 'tom@example.be',
        telephonenr: '+32470999999',
        birth: '1979-12-31',
        address: { zipcode: '3000', city: 'Leuven', country_code: 'BE' },
        external_ref: { external_ref: '123123123123', external_ref_company: 'Facebook Lead Ads' },
      },
    });
  });

  it('zoho: Zoho API names, a country name as code', async () => {
    const { mapper } = mapperWith();
    const lead = await mapper.map(TEST_SOURCES.zoho, firstEvent(TEST_SOURCES.zoho, jsonRequest(ZOHO_FORM)));
    expect(lead).toEqual({
      origin: 'Zoho CRM',
      prospect: {
        first_name: 'Emma',
        last_name: 'Claes',
        email: 'emma.claes@example.be',
        telephonenr: '+32 476 55 44 33',
        address: { zipcode: '2000', city: 'Antwerpen', country_code: 'BE' },
        external_ref: { external_ref: '3652397000000649013', external_ref_company: 'Zoho CRM' },
      },
    });
  });

  it('dynamics: Target attributes, a /Date()/ birth date', async () => {
    const { mapper } = mapperWith();
    const lead = await mapper.map(TEST_SOURCES.dynamics, firstEvent(TEST_SOURCES.dynamics, jsonRequest(DYNAMICS_CONTEXT)));
    expect(lead).toEqual({
      origin: 'Dynamics 365',
      prospect: {
        first_name: 'Pieter',
        last_name: 'De Smet',
        email: 'pieter.desmet@example.be',
        telephonenr: '+32 9 000 00 00',
        birth: '1980-01-01',
        address: { street: 'Veldstraat', housenr: '5', zipcode: '8000', city: 'Brugge', country_code: 'BE' },
        company: { name: 'De Smet NV' },
        external_ref: { external_ref: '9f2c7a1e-0000-4000-8000-000000000001', external_ref_company: 'Dynamics 365' },
      },
    });
  });

  it('json: the body as posted', async () => {
    const { mapper } = mapperWith();
    const body = { origin: 'CRM', prospect: { first_name: 'A', last_name: 'B' } };
    expect(await mapper.map(TEST_SOURCES.json, { eventId: 'x', payload: body })).toEqual(body);
  });
});

describe('custom mappings and the lead rules', () => {
  const event = (): NativeEvent => firstEvent(TEST_SOURCES.zoho, jsonRequest({ ...ZOHO_FORM, VIN: 'WBA6L7100LFH65459' }));

  it('a one-line override through $default', async () => {
    const { mapper } = mapperWith();
    const source = { ...TEST_SOURCES.zoho, mapping: '$default ~> | prospect | { "risk_objects": { "cars": [{ "vin": $$.event.VIN }] } } |' };
    const lead = await mapper.map(source, event());
    expect(lead.prospect.risk_objects).toEqual({ cars: [{ vin: 'WBA6L7100LFH65459' }] });
    expect(lead.prospect.first_name).toBe('Emma');
  });

  it('names the field the lead rules refuse, never its value', async () => {
    const { mapper } = mapperWith();
    const source = { ...TEST_SOURCES.zoho, name: 'zoho-x', mapping: '$default ~> | prospect | {}, ["last_name"] |' };
    const error: LeadMappingError = await mapper.map(source, event()).catch((e) => e);
    expect(error).toBeInstanceOf(LeadMappingError);
    expect(error.reason).toBe('Mapping of source "zoho-x" produced an invalid lead: prospect.last_name is required');
    expect(error.reason).not.toContain('Emma');
  });

  it('a record without a name still maps, and fails on the rules', async () => {
    const { mapper } = mapperWith();
    const lead = jsonRequest({ id: '1', Email: 'x@example.be' });
    await expect(mapper.map(TEST_SOURCES.zoho, firstEvent(TEST_SOURCES.zoho, lead))).rejects.toThrow(
      'Mapping of source "zoho" produced an invalid lead: prospect.first_name is required; prospect.last_name is required',
    );
  });

  it('refuses a distribution_id, a non-object result, a failing expression and an http backref', async () => {
    const { mapper } = mapperWith();
    const withMapping = (mapping: string) => ({ ...TEST_SOURCES.zoho, mapping });
    await expect(mapper.map(withMapping('$merge([$default, { "distribution_id": "x" }])'), event())).rejects.toThrow('distribution_id cannot be set by a mapping');
    await expect(mapper.map(withMapping('"text"'), event())).rejects.toThrow('produced a string; a lead is an object');
    await expect(mapper.map(withMapping('$error("boom")'), event())).rejects.toThrow(/^Mapping of source "zoho" failed: JSONata error D3137/);
    await expect(mapper.map(withMapping('$merge([$default, { "backref": "http://crm.local/1" }])'), event())).rejects.toThrow('backref must be an https URL');
    const lenient = new JsonataLeadMapper({} as SourceRecordFetcher, { allowHttpUrls: true });
    await expect(lenient.map(withMapping('$merge([$default, { "backref": "http://crm.local/1" }])'), event())).resolves.toMatchObject({ backref: 'http://crm.local/1' });
  });

  it('passes a fetch failure on as it is', async () => {
    const { mapper } = mapperWith({ 'hubspot:123': new SourceFetchError('HubSpot answered 503', 'transient', 503, 1000) });
    await expect(mapper.map(TEST_SOURCES.hubspot, firstEvent(TEST_SOURCES.hubspot, jsonRequest(HUBSPOT_V3_EVENTS)))).rejects.toMatchObject({ kind: 'transient', retryAfterMs: 1000 });
  });
});
