/*
 * Native payloads as each platform documents them (shapes and field names from the
 * platforms' public developer docs, named per fixture; values invented). Used by unit specs.
 */
import { createHmac } from 'node:crypto';
import { NativeRequest } from '../source-adapter';
import { SourceDefinition } from '../source.types';

/** HubSpot Webhooks API v3: an array of events (developers.hubspot.com, "Webhooks API", example payload). */
export const HUBSPOT_V3_EVENTS = [
  { eventId: 1001, subscriptionId: 2001, portalId: 62515, appId: 54321, occurredAt: 1564113600000, subscriptionType: 'contact.creation', attemptNumber: 0, objectId: 123, changeSource: 'CRM', changeFlag: 'NEW' },
  { eventId: 1002, subscriptionId: 2002, portalId: 62515, appId: 54321, occurredAt: 1564113600000, subscriptionType: 'contact.propertyChange', attemptNumber: 0, objectId: 123, propertyName: 'email', propertyValue: 'x', changeSource: 'CRM' },
  { eventId: 1003, subscriptionId: 2001, portalId: 62515, appId: 54321, occurredAt: 1564113600000, subscriptionType: 'contact.creation', attemptNumber: 0, objectId: 124, changeSource: 'FORM' },
];

/** HubSpot CRM API v3 contact (GET /crm/v3/objects/contacts/{id}?properties=…). */
export const HUBSPOT_CONTACT = {
  id: '123',
  properties: {
    firstname: 'Anne',
    lastname: 'Peeters',
    email: 'anne.peeters@example.be',
    phone: '+32 470 12 34 56',
    mobilephone: null,
    address: 'Kerkstraat 12 bus 3',
    zip: '9000',
    city: 'Gent',
    country: 'Belgium',
    company: 'Peeters BV',
    date_of_birth: '1985-04-12',
    hs_language: 'nl-be',
    hs_object_id: '123',
  },
  createdAt: '2024-05-01T10:00:00.000Z',
  updatedAt: '2024-05-01T10:00:00.000Z',
  archived: false,
};

/** HubSpot workflow "Send a webhook": the enrolled contact in the CRM API's older format (properties with history). */
export const HUBSPOT_WORKFLOW_BODY = {
  vid: 451,
  'canonical-vid': 451,
  'portal-id': 62515,
  properties: {
    firstname: { value: 'Luc', versions: [{ value: 'Luc', 'source-type': 'CRM_UI', timestamp: 1700000000000 }] },
    lastname: { value: 'Dubois' },
    email: { value: 'luc.dubois@example.be' },
    mobilephone: { value: '+32 478 00 00 00' },
    phone: { value: '' },
    hs_language: { value: 'fr' },
    date_of_birth: { value: '315532800000' },
  },
};

/** Pipedrive webhooks v2: person created (pipedrive.readme.io, "Guide for Webhooks v2"). */
export const PIPEDRIVE_PERSON_CREATED = {
  data: {
    id: 42,
    name: 'Sofie Janssens',
    first_name: 'Sofie',
    last_name: 'Janssens',
    emails: [
      { label: 'work', value: 'sofie@work.example', primary: false },
      { label: 'home', value: 'sofie@example.be', primary: true },
    ],
    phones: [{ label: 'mobile', value: '+32 499 11 22 33', primary: true }],
    owner_id: 7,
    org_id: null,
    add_time: '2024-09-27T14:25:27Z',
  },
  previous: null,
  meta: {
    action: 'create',
    entity: 'person',
    entity_id: '42',
    id: '8a1d3c6e-0d47-4c36-9d4b-6c1c1f0a2f11',
    company_id: '12882925',
    correlation_id: '0e4f6c2a-1111-4d4d-8888-123456789abc',
    host: 'acme.pipedrive.com',
    timestamp: '2024-09-27T14:25:27.000Z',
    type: 'general',
    user_id: '18487521',
    version: '2.0',
    webhook_id: '99',
    webhook_owner_id: '18487521',
    change_source: 'app',
    is_bulk_edit: false,
    attempt: 1,
  },
};

/** Pipedrive webhooks v2: deal created (person_id only). */
export const PIPEDRIVE_DEAL_CREATED = {
  data: { id: 1, title: 'Autoverzekering', value: 2, currency: 'EUR', status: 'open', person_id: 42, org_id: 2, add_time: '2024-09-27T14:25:27Z' },
  previous: null,
  meta: { ...PIPEDRIVE_PERSON_CREATED.meta, entity: 'deal', entity_id: '1', id: '5b0c6a1e-2222-4c36-9d4b-6c1c1f0a2f22' },
};

/** Pipedrive persons API v2 answer (GET /api/v2/persons/{id}). */
export const PIPEDRIVE_PERSON_ANSWER = { success: true, data: PIPEDRIVE_PERSON_CREATED.data };

/** Salesforce outbound message (developer.salesforce.com, "Outbound Messaging", notifications WSDL). */
export function salesforceMessage(notifications = 2, organizationId = '00D5g000004Abcd'): string {
  const items = Array.from(
    { length: notifications },
    (_, i) => `
   <Notification>
    <Id>04l5g00000Xyz${String(i).padStart(2, '0')}</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q5g00000Lead${String(i).padStart(1, '0')}</sf:Id>
     <sf:City>Namur</sf:City>
     <sf:Company>Martin &amp; Fils</sf:Company>
     <sf:Country>BE</sf:Country>
     <sf:Email>marie.martin${i}@example.be</sf:Email>
     <sf:FirstName>Marie</sf:FirstName>
     <sf:LastName>Martin</sf:LastName>
     <sf:MobilePhone xsi:nil="true"/>
     <sf:Phone>+32 81 00 00 0${i}</sf:Phone>
     <sf:PostalCode>5000</sf:PostalCode>
     <sf:Street>Rue de Fer 25</sf:Street>
    </sObject>
   </Notification>`,
  ).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>${organizationId}AAA</OrganizationId>
   <ActionId>04k5g000000AbcdAAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/60.0/00D5g000004Abcd</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/60.0/00D5g000004Abcd</PartnerUrl>${items}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`;
}

/** Typeform form_response (typeform.com/developers/webhooks, "Example webhook payload"). */
export const TYPEFORM_RESPONSE = {
  event_id: '01HXYZABCDEF',
  event_type: 'form_response',
  form_response: {
    form_id: 'lT4Z3j',
    token: 'a3a12ec67a1365927098a606107fac15',
    landed_at: '2024-05-01T10:00:00Z',
    submitted_at: '2024-05-01T10:02:00Z',
    hidden: { language: 'fr' },
    definition: {
      id: 'lT4Z3j',
      title: 'Devis auto',
      fields: [
        { id: 'f1', ref: 'first_name', type: 'short_text', title: 'Prénom' },
        { id: 'f2', ref: 'last_name', type: 'short_text', title: 'Nom' },
        { id: 'f3', ref: 'contact_email', type: 'email', title: 'E-mail' },
        { id: 'f4', ref: 'phone', type: 'phone_number', title: 'Téléphone' },
        { id: 'f5', ref: 'birth_date', type: 'date', title: 'Date de naissance' },
        { id: 'f6', ref: 'car', type: 'multiple_choice', title: 'Voiture' },
      ],
    },
    answers: [
      { type: 'text', text: 'Julie', field: { id: 'f1', type: 'short_text', ref: 'first_name' } },
      { type: 'text', text: 'Lambert', field: { id: 'f2', type: 'short_text', ref: 'last_name' } },
      { type: 'email', email: 'julie.lambert@example.be', field: { id: 'f3', type: 'email', ref: 'contact_email' } },
      { type: 'phone_number', phone_number: '+32471000000', field: { id: 'f4', type: 'phone_number', ref: 'phone' } },
      { type: 'date', date: '1990-02-28', field: { id: 'f5', type: 'date', ref: 'birth_date' } },
      { type: 'choice', choice: { label: 'Citadine' }, field: { id: 'f6', type: 'multiple_choice', ref: 'car' } },
    ],
  },
};

/** Facebook Page webhook, leadgen changes (developers.facebook.com, "Webhooks for Leadgen"). */
export const FACEBOOK_LEADGEN = {
  object: 'page',
  entry: [
    {
      id: '153125381133',
      time: 1438292065,
      changes: [
        { field: 'leadgen', value: { leadgen_id: '123123123123', page_id: '153125381133', form_id: '567567567567', adgroup_id: '0', ad_id: '0', created_time: 1438292065 } },
        { field: 'feed', value: { item: 'status' } },
        { field: 'leadgen', value: { leadgen_id: '123123123124', page_id: '153125381133', form_id: '567567567567', created_time: 1438292066 } },
      ],
    },
  ],
};

/** Graph API lead (GET /{leadgen-id}, "Retrieving leads"). */
export const FACEBOOK_LEAD = {
  created_time: '2015-02-28T08:49:14+0000',
  id: '123123123123',
  ad_id: '0',
  form_id: '567567567567',
  field_data: [
    { name: 'full_name', values: ['Tom Van den Broeck'] },
    { name: 'email', values: ['tom@example.be'] },
    { name: 'phone_number', values: ['+32470999999'] },
    { name: 'date_of_birth', values: ['12/31/1979'] },
    { name: 'city', values: ['Leuven'] },
    { name: 'post_code', values: ['3000'] },
    { name: 'country', values: ['BE'] },
  ],
};

/** Zoho CRM workflow webhook, form fields picked by the user (zoho.com/crm, "Webhooks"). */
export const ZOHO_FORM = { id: '3652397000000649013', First_Name: 'Emma', Last_Name: 'Claes', Email: 'emma.claes@example.be', Mobile: '+32 476 55 44 33', City: 'Antwerpen', Zip_Code: '2000', Country: 'België' };

/** Dataverse RemoteExecutionContext of a lead Create (learn.microsoft.com, "Use webhooks", request body). */
export const DYNAMICS_CONTEXT = {
  BusinessUnitId: 'e2b9dd1f-4f0f-e811-a95d-000d3af3e3c2',
  CorrelationId: 'b374239d-4233-41a9-8f17-a3b5f5b19a2b',
  Depth: 1,
  InitiatingUserId: '75c2dd1f-4f0f-e811-a95d-000d3af3e3c2',
  InputParameters: [
    {
      key: 'Target',
      value: {
        __type: 'Entity:http://schemas.microsoft.com/xrm/2011/Contracts',
        Attributes: [
          { key: 'firstname', value: 'Pieter' },
          { key: 'lastname', value: 'De Smet' },
          { key: 'emailaddress1', value: 'pieter.desmet@example.be' },
          { key: 'telephone1', value: '+32 9 000 00 00' },
          { key: 'companyname', value: 'De Smet NV' },
          { key: 'address1_line1', value: 'Veldstraat 5' },
          { key: 'address1_city', value: 'Brugge' },
          { key: 'address1_postalcode', value: '8000' },
          { key: 'address1_country', value: 'Belgium' },
          { key: 'birthdate', value: '/Date(315532800000)/' },
          { key: 'leadid', value: '9f2c7a1e-0000-4000-8000-000000000001' },
        ],
        EntityState: null,
        FormattedValues: [],
        Id: '9f2c7a1e-0000-4000-8000-000000000001',
        KeyAttributes: [],
        LogicalName: 'lead',
        RelatedEntities: [],
        RowVersion: null,
      },
    },
  ],
  IsExecutingOffline: false,
  IsInTransaction: false,
  IsOfflinePlayback: false,
  IsolationMode: 1,
  MessageName: 'Create',
  Mode: 1,
  OperationCreatedOn: '/Date(1714557600000)/',
  OperationId: '0c2a2a0b-0000-4000-8000-000000000002',
  OrganizationId: 'b2a9b0e6-0000-4000-8000-000000000003',
  OrganizationName: 'contoso',
  OutputParameters: [{ key: 'id', value: '9f2c7a1e-0000-4000-8000-000000000001' }],
  OwningExtension: { Id: '1d0e6f4a-0000-4000-8000-000000000004', KeyAttributes: [], LogicalName: 'sdkmessageprocessingstep', Name: 'Lead Create webhook', RowVersion: null },
  PostEntityImages: [],
  PreEntityImages: [],
  PrimaryEntityId: '9f2c7a1e-0000-4000-8000-000000000001',
  PrimaryEntityName: 'lead',
  RequestId: '3b5a5a0b-0000-4000-8000-000000000005',
  SecondaryEntityName: 'none',
  SharedVariables: [],
  Stage: 40,
  UserId: '75c2dd1f-4f0f-e811-a95d-000d3af3e3c2',
};

/** A request as the intake would hand it over: JSON bodies with their exact bytes. */
export function jsonRequest(body: unknown, headers: Record<string, string> = {}, url = 'https://leads.example.com/v1/hooks/test', query: Record<string, string> = {}): NativeRequest {
  const rawBody = Buffer.from(JSON.stringify(body));
  return { method: 'POST', url, headers: { 'content-type': 'application/json', ...lower(headers) }, query, rawBody, body };
}

export function xmlRequest(xml: string, headers: Record<string, string> = {}): NativeRequest {
  return { method: 'POST', url: 'https://leads.example.com/v1/hooks/sf', headers: { 'content-type': 'text/xml', ...lower(headers) }, query: {}, rawBody: Buffer.from(xml), body: xml };
}

function lower(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

export function hmac(secret: string, data: string | Buffer, encoding: 'base64' | 'hex'): string {
  return createHmac('sha256', secret).update(data).digest(encoding);
}

/** Test sources, one per type (test secrets only). */
export const TEST_SOURCES: Record<string, SourceDefinition> = {
  hubspot: { name: 'hubspot-main', type: 'hubspot', declaredIn: 'SOURCES_FILE', credentials: { type: 'hubspot', client_secret: 'hs-client-secret', access_token: 'hs-token' } },
  hubspotKey: { name: 'hubspot-key', type: 'hubspot', declaredIn: 'SOURCES_FILE', credentials: { type: 'hubspot', api_key: 'hubspot-api-key-0123456789' } },
  pipedrive: {
    name: 'pipedrive-main',
    type: 'pipedrive',
    declaredIn: 'SOURCES_FILE',
    credentials: { type: 'pipedrive', basic_auth: { username: 'wegroup', password: 'pipedrive-password-123' }, api_token: 'pd-token' },
  },
  salesforce: { name: 'sf', type: 'salesforce', declaredIn: 'SOURCES_FILE', credentials: { type: 'salesforce', organization_id: '00D5g000004AbcdEAA' } },
  typeform: { name: 'typeform', type: 'typeform', declaredIn: 'SOURCES_FILE', credentials: { type: 'typeform', secret: 'tf-secret' } },
  facebook: {
    name: 'fb',
    type: 'facebook',
    declaredIn: 'SOURCES_FILE',
    credentials: { type: 'facebook', app_secret: 'fb-app-secret', verify_token: 'fb-verify-token', page_access_token: 'fb-page-token' },
  },
  zoho: { name: 'zoho', type: 'zoho', declaredIn: 'SOURCES_FILE', credentials: { type: 'zoho', token: 'zoho-shared-token-0123' } },
  dynamics: { name: 'dyn', type: 'dynamics', declaredIn: 'SOURCES_FILE', credentials: { type: 'dynamics', token: 'dyn-shared-token-0123' } },
  json: { name: 'crm', type: 'json', declaredIn: 'SOURCES_FILE', credentials: { type: 'json', api_key: 'json-api-key-0123456789', webhook_secrets: [] } },
};
