import { HookAuthError, NativePayloadError } from '../source-adapter';
import { NativeRequest } from '../source-adapter';
import { SourceDefinition } from '../source.types';
import {
  DYNAMICS_CONTEXT,
  FACEBOOK_LEADGEN,
  hmac,
  HUBSPOT_V3_EVENTS,
  HUBSPOT_WORKFLOW_BODY,
  jsonRequest,
  PIPEDRIVE_PERSON_CREATED,
  salesforceMessage,
  TEST_SOURCES,
  TYPEFORM_RESPONSE,
  xmlRequest,
  ZOHO_FORM,
} from '../testing/native-fixtures';
import { adapterFor, hubspotSignedUri } from './index';
import { Webhook } from 'standardwebhooks';

const NOW = 1_714_557_600_000;

function authError(source: SourceDefinition, request: NativeRequest, now = NOW): HookAuthError {
  try {
    adapterFor(source.type).authenticate(source, request, now);
  } catch (error) {
    expect(error).toBeInstanceOf(HookAuthError);
    return error as HookAuthError;
  }
  throw new Error('authenticated');
}

function payloadError(source: SourceDefinition, request: NativeRequest): NativePayloadError {
  try {
    adapterFor(source.type).split(request);
  } catch (error) {
    expect(error).toBeInstanceOf(NativePayloadError);
    return error as NativePayloadError;
  }
  throw new Error('split');
}

describe('hubspot', () => {
  const source = TEST_SOURCES.hubspot;
  const url = 'https://leads.example.com/v1/hooks/hubspot-main?x=a%3Ab';
  const signed = (body: unknown, secret = 'hs-client-secret', timestamp = NOW - 1000, signUrl = 'https://leads.example.com/v1/hooks/hubspot-main?x=a:b') => {
    const raw = JSON.stringify(body);
    return jsonRequest(body, { 'X-HubSpot-Signature-v3': hmac(secret, `POST${signUrl}${raw}${timestamp}`, 'base64'), 'X-HubSpot-Request-Timestamp': String(timestamp) }, url);
  };

  it('takes a valid v3 signature (URI decoded as HubSpot documents)', () => {
    expect(() => adapterFor('hubspot').authenticate(source, signed(HUBSPOT_V3_EVENTS), NOW)).not.toThrow();
    expect(hubspotSignedUri('https://x/a%2Fb?c=%3A%40%21%2a%20')).toBe('https://x/a/b?c=:@!*%20');
  });

  it('refuses a wrong secret, a stale or future timestamp, a tampered body, a missing header', () => {
    expect(authError(source, signed(HUBSPOT_V3_EVENTS, 'other')).field).toBe('X-HubSpot-Signature-v3');
    expect(authError(source, signed(HUBSPOT_V3_EVENTS, undefined, NOW - 301_000)).message).toMatch(/X-HubSpot-Request-Timestamp header is 301 s old/);
    expect(authError(source, signed(HUBSPOT_V3_EVENTS, undefined, NOW + 400_000)).field).toBe('X-HubSpot-Request-Timestamp');
    const tampered = signed(HUBSPOT_V3_EVENTS);
    tampered.rawBody = Buffer.from(tampered.rawBody!.toString().replace('123', '124'));
    expect(authError(source, tampered).field).toBe('X-HubSpot-Signature-v3');
    expect(authError(source, jsonRequest(HUBSPOT_V3_EVENTS)).message).toContain('Missing X-HubSpot-Signature-v3');
    const error = authError(source, signed(HUBSPOT_V3_EVENTS, 'other'));
    expect(error.message).not.toContain('hs-client-secret');
  });

  it('takes an API key instead, when configured', () => {
    const keyed = TEST_SOURCES.hubspotKey;
    expect(() => adapterFor('hubspot').authenticate(keyed, jsonRequest(HUBSPOT_WORKFLOW_BODY, { 'X-API-Key': 'hubspot-api-key-0123456789' }), NOW)).not.toThrow();
    expect(authError(keyed, jsonRequest(HUBSPOT_WORKFLOW_BODY, { 'X-API-Key': 'wrong' })).field).toBe('X-API-Key');
    expect(authError(keyed, jsonRequest(HUBSPOT_WORKFLOW_BODY)).field).toBe('X-API-Key');
  });

  it('splits v3 arrays: one event per contact creation, others ignored; caps at 100', () => {
    const split = adapterFor('hubspot').split(jsonRequest(HUBSPOT_V3_EVENTS));
    expect(split.events.map((event) => event.eventId)).toEqual(['1001', '1003']);
    expect(split.ignored).toEqual([{ eventId: '1002', reason: 'subscriptionType contact.propertyChange is not a contact creation' }]);
    const many = Array.from({ length: 101 }, (_, i) => ({ ...HUBSPOT_V3_EVENTS[0], eventId: i }));
    expect(payloadError(source, jsonRequest(many)).problems[0].message).toContain('at most 100');
    expect(payloadError(source, jsonRequest([{ subscriptionType: 'contact.creation' }])).problems).toEqual([{ field: '[0].eventId', message: '[0].eventId is required' }]);
  });

  it('keys a workflow body by its record id, and fetches only v3 events', () => {
    const adapter = adapterFor('hubspot');
    const [event] = adapter.split(jsonRequest(HUBSPOT_WORKFLOW_BODY)).events;
    expect(event.eventId).toBe('contact:451');
    expect(adapter.fetchFor(event)).toBeNull();
    expect(adapter.fetchFor(adapter.split(jsonRequest(HUBSPOT_V3_EVENTS)).events[0])).toEqual({ platform: 'hubspot', object: 'contact', id: '123' });
    expect(payloadError(source, jsonRequest({ properties: { firstname: 'x' } })).problems[0].field).toBe('objectId');
  });
});

describe('pipedrive', () => {
  const source = TEST_SOURCES.pipedrive;
  const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

  it('checks HTTP basic auth, both fields', () => {
    expect(() => adapterFor('pipedrive').authenticate(source, jsonRequest(PIPEDRIVE_PERSON_CREATED, basic('wegroup', 'pipedrive-password-123')), NOW)).not.toThrow();
    expect(authError(source, jsonRequest(PIPEDRIVE_PERSON_CREATED, basic('wegroup', 'wrong'))).field).toBe('Authorization');
    expect(authError(source, jsonRequest(PIPEDRIVE_PERSON_CREATED, basic('other', 'pipedrive-password-123'))).field).toBe('Authorization');
    expect(authError(source, jsonRequest(PIPEDRIVE_PERSON_CREATED)).message).toContain('Missing Authorization header');
  });

  it('takes creations of persons, leads and deals; ignores other actions and entities', () => {
    const adapter = adapterFor('pipedrive');
    expect(adapter.split(jsonRequest(PIPEDRIVE_PERSON_CREATED)).events[0].eventId).toBe(PIPEDRIVE_PERSON_CREATED.meta.id);
    const changed = { ...PIPEDRIVE_PERSON_CREATED, meta: { ...PIPEDRIVE_PERSON_CREATED.meta, action: 'change' } };
    expect(adapter.split(jsonRequest(changed))).toEqual({ events: [], ignored: [{ eventId: PIPEDRIVE_PERSON_CREATED.meta.id, reason: 'meta.action change is not a creation' }] });
    const org = { ...PIPEDRIVE_PERSON_CREATED, meta: { ...PIPEDRIVE_PERSON_CREATED.meta, entity: 'organization' } };
    expect(adapter.split(jsonRequest(org)).ignored[0].reason).toBe('meta.entity organization is not a person, lead or deal');
    expect(payloadError(source, jsonRequest({ data: {} })).problems[0].field).toBe('meta');
    expect(payloadError(source, jsonRequest({ v: 1, meta: { v: 1, action: 'added', object: 'person' }, current: {} })).problems[0].field).toBe('meta.version');
  });
});

describe('salesforce', () => {
  const source = TEST_SOURCES.salesforce;

  it('checks the organization id (15 and 18 characters agree)', () => {
    expect(() => adapterFor('salesforce').authenticate(source, xmlRequest(salesforceMessage(1)), NOW)).not.toThrow();
    const fifteen = { ...source, credentials: { type: 'salesforce' as const, organization_id: '00D5g000004Abcd' } };
    expect(() => adapterFor('salesforce').authenticate(fifteen, xmlRequest(salesforceMessage(1)), NOW)).not.toThrow();
    expect(authError(source, xmlRequest(salesforceMessage(1, '00D5g000004Zzzz'))).field).toBe('OrganizationId');
    expect(authError(source, xmlRequest('<not-soap/>')).message).toContain('not a SOAP envelope');
  });

  it('refuses a document type (no entity expansion)', () => {
    const xml = salesforceMessage(1).replace('<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>');
    expect(authError(source, xmlRequest(xml)).message).toContain('document type');
  });

  it('splits up to 100 notifications, keyed by notification Id; refuses more', () => {
    const split = adapterFor('salesforce').split(xmlRequest(salesforceMessage(3)));
    expect(split.events.map((event) => event.eventId)).toEqual(['04l5g00000Xyz00', '04l5g00000Xyz01', '04l5g00000Xyz02']);
    expect(JSON.stringify(split.events[0].payload)).not.toContain('SessionId');
    expect(adapterFor('salesforce').split(xmlRequest(salesforceMessage(100))).events).toHaveLength(100);
    expect(payloadError(source, xmlRequest(salesforceMessage(101))).problems[0].message).toContain('at most 100');
  });
});

describe('typeform', () => {
  const source = TEST_SOURCES.typeform;
  const signed = (body: unknown, secret = 'tf-secret') => jsonRequest(body, { 'Typeform-Signature': `sha256=${hmac(secret, JSON.stringify(body), 'base64')}` });

  it('checks Typeform-Signature over the raw body', () => {
    expect(() => adapterFor('typeform').authenticate(source, signed(TYPEFORM_RESPONSE), NOW)).not.toThrow();
    expect(authError(source, signed(TYPEFORM_RESPONSE, 'other')).field).toBe('Typeform-Signature');
    const tampered = signed(TYPEFORM_RESPONSE);
    tampered.rawBody = Buffer.from(`${tampered.rawBody!.toString()} `);
    expect(authError(source, tampered).field).toBe('Typeform-Signature');
    expect(authError(source, jsonRequest(TYPEFORM_RESPONSE)).message).toContain('Missing Typeform-Signature');
  });

  it('keys a form_response by event_id', () => {
    expect(adapterFor('typeform').split(jsonRequest(TYPEFORM_RESPONSE)).events[0].eventId).toBe('01HXYZABCDEF');
    expect(adapterFor('typeform').split(jsonRequest({ ...TYPEFORM_RESPONSE, event_type: 'form_response_partial' })).ignored).toHaveLength(1);
    expect(payloadError(source, jsonRequest({ event_type: 'form_response' })).problems.map((p) => p.field)).toEqual(['event_id', 'form_response']);
  });
});

describe('facebook', () => {
  const source = TEST_SOURCES.facebook;
  const signed = (body: unknown, secret = 'fb-app-secret') => jsonRequest(body, { 'X-Hub-Signature-256': `sha256=${hmac(secret, JSON.stringify(body), 'hex')}` });

  it('checks X-Hub-Signature-256', () => {
    expect(() => adapterFor('facebook').authenticate(source, signed(FACEBOOK_LEADGEN), NOW)).not.toThrow();
    expect(authError(source, signed(FACEBOOK_LEADGEN, 'other')).field).toBe('X-Hub-Signature-256');
    expect(authError(source, jsonRequest(FACEBOOK_LEADGEN, { 'X-Hub-Signature-256': 'sha1=abc' })).field).toBe('X-Hub-Signature-256');
  });

  it('answers the verification handshake with the right token only', () => {
    const adapter = adapterFor('facebook');
    const query = { 'hub.mode': 'subscribe', 'hub.verify_token': 'fb-verify-token', 'hub.challenge': '1158201444' };
    const get = (q: Record<string, string>): NativeRequest => ({ method: 'GET', url: 'https://x/v1/hooks/fb', headers: {}, query: q, rawBody: undefined, body: undefined });
    expect(adapter.verificationChallenge!(source, get(query))).toBe('1158201444');
    expect(() => adapter.verificationChallenge!(source, get({ ...query, 'hub.verify_token': 'nope' }))).toThrow(HookAuthError);
  });

  it('splits entry[].changes[]: one event per leadgen, others ignored', () => {
    const split = adapterFor('facebook').split(jsonRequest(FACEBOOK_LEADGEN));
    expect(split.events.map((event) => event.eventId)).toEqual(['123123123123', '123123123124']);
    expect(split.ignored).toEqual([{ eventId: null, reason: 'entry[0].changes[1].field feed is not leadgen' }]);
    const many = { object: 'page', entry: [{ id: '1', changes: Array.from({ length: 101 }, (_, i) => ({ field: 'leadgen', value: { leadgen_id: String(i) } })) }] };
    expect(payloadError(source, jsonRequest(many)).problems[0].message).toContain('at most 100');
    expect(payloadError(source, jsonRequest({ object: 'page', entry: [{ changes: [{ field: 'leadgen', value: {} }] }] })).problems[0].field).toBe('entry[0].changes[0].value.leadgen_id');
  });
});

describe('zoho and dynamics', () => {
  it('take the shared token as a header or a query parameter', () => {
    const zoho = TEST_SOURCES.zoho;
    expect(() => adapterFor('zoho').authenticate(zoho, jsonRequest(ZOHO_FORM, { 'X-Source-Token': 'zoho-shared-token-0123' }), NOW)).not.toThrow();
    expect(() => adapterFor('zoho').authenticate(zoho, jsonRequest(ZOHO_FORM, {}, undefined, { token: 'zoho-shared-token-0123' }), NOW)).not.toThrow();
    expect(authError(zoho, jsonRequest(ZOHO_FORM, {}, undefined, { token: 'wrong' })).field).toBe('token');
    expect(authError(zoho, jsonRequest(ZOHO_FORM, { 'X-Source-Token': 'wrong' })).field).toBe('X-Source-Token');
    expect(authError(TEST_SOURCES.dynamics, jsonRequest(DYNAMICS_CONTEXT)).message).toContain('Missing X-Source-Token');
  });

  it('key zoho by the record id (else a digest) and dynamics by message and entity id', () => {
    expect(adapterFor('zoho').split(jsonRequest(ZOHO_FORM)).events[0].eventId).toBe('record:3652397000000649013');
    expect(adapterFor('zoho').split(jsonRequest({ First_Name: 'x' })).events[0].eventId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(payloadError(TEST_SOURCES.zoho, jsonRequest({ ids: ['1'], operation: 'insert', module: 'Leads' })).problems[0].field).toBe('ids');
    expect(adapterFor('dynamics').split(jsonRequest(DYNAMICS_CONTEXT)).events[0].eventId).toBe('Create:9f2c7a1e-0000-4000-8000-000000000001');
    expect(adapterFor('dynamics').split(jsonRequest({ ...DYNAMICS_CONTEXT, MessageName: 'Delete' })).ignored).toHaveLength(1);
    expect(payloadError(TEST_SOURCES.dynamics, jsonRequest({})).problems.map((p) => p.field)).toEqual(['PrimaryEntityId', 'MessageName']);
  });
});

describe('json', () => {
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
  const signing = { ...TEST_SOURCES.json, credentials: { ...TEST_SOURCES.json.credentials, webhook_secrets: [secret] } } as SourceDefinition;
  const body = { prospect: { first_name: 'A', last_name: 'B' } };

  it('checks X-API-Key, and a Standard Webhooks signature when the source has secrets: its webhook-id is the event id', () => {
    const adapter = adapterFor('json');
    expect(adapter.authenticate(TEST_SOURCES.json, jsonRequest(body, { 'X-API-Key': 'json-api-key-0123456789' }), Date.now())).toEqual({});
    expect(authError(TEST_SOURCES.json, jsonRequest(body, { 'X-API-Key': 'nope' })).field).toBe('X-API-Key');
    const now = Date.now();
    const timestamp = new Date(now);
    const signature = new Webhook(secret).sign('msg_1', timestamp, JSON.stringify(body));
    const headers = { 'X-API-Key': 'json-api-key-0123456789', 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(now / 1000)), 'webhook-signature': signature };
    const auth = adapter.authenticate(signing, jsonRequest(body, headers), now);
    expect(auth).toEqual({ webhookId: 'msg_1' });
    expect(adapter.split(jsonRequest(body, headers), auth ?? {}).events[0].eventId).toBe('msg_1');
    expect(authError(signing, jsonRequest({ ...body, x: 1 }, headers), now).field).toBe('webhook-signature');
    expect(authError(signing, jsonRequest(body, { 'X-API-Key': 'json-api-key-0123456789' }), now).field).toBe('webhook-id');
  });

  it('keys an unsigned body by Idempotency-Key, else its digest', () => {
    expect(adapterFor('json').split(jsonRequest(body, { 'Idempotency-Key': 'k-1' })).events[0].eventId).toBe('k-1');
    expect(adapterFor('json').split(jsonRequest(body)).events[0].eventId).toMatch(/^sha256:/);
  });
});
