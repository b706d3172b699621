import { XMLParser } from 'fast-xml-parser';
import { MAX_EVENTS_PER_REQUEST, NativeRequest, SourceAdapter, SplitRequest } from '../source-adapter';
import { FetchRequest, NativeEvent, SourceDefinition, SourceProblem } from '../source.types';
import { credentialsOf, idText, isObject, payloadError, rawBytes, refuse, secretEquals, tooManyEvents } from './adapter-utils';

/** An outbound message of 100 notifications of a few KB each fits well within this. */
export const MAX_SALESFORCE_XML_BYTES = 1024 * 1024;

/** What one outbound message carries, parsed (the SessionId, a live session, is never kept). */
export interface SalesforceMessage {
  OrganizationId?: string;
  ActionId?: string;
  EnterpriseUrl?: string;
  PartnerUrl?: string;
  Notification: Array<Record<string, unknown>>;
}

/**
 * The XML parser: namespace prefixes dropped (`sf:FirstName` → FirstName), values kept as
 * strings, attributes under `@_`. XML's own entities (&amp; …) are decoded; a document type
 * (where custom entities would be declared) is refused before parsing.
 */
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name) => name === 'Notification',
  maxNestedTags: 20,
});

const parsed = new WeakMap<NativeRequest, SalesforceMessage | string>();

/** The message, or a string saying why the body is not one. Parsed once per request (authenticate, then split). */
export function parseOutboundMessage(request: NativeRequest): SalesforceMessage | string {
  const cached = parsed.get(request);
  if (cached !== undefined) return cached;
  const result = parseMessage(request);
  parsed.set(request, result);
  return result;
}

function parseMessage(request: NativeRequest): SalesforceMessage | string {
  const bytes = rawBytes(request);
  const xml = bytes.length ? bytes.toString('utf8') : typeof request.body === 'string' ? request.body : '';
  if (xml.trim() === '') return 'the body is empty (a Salesforce outbound message is SOAP XML)';
  if (Buffer.byteLength(xml) > MAX_SALESFORCE_XML_BYTES) return `the body is larger than ${MAX_SALESFORCE_XML_BYTES} bytes`;
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return 'the XML declares a document type, which an outbound message never has';
  let document: unknown;
  try {
    document = parser.parse(xml);
  } catch (error) {
    return `the body is not well-formed XML (${String((error as Error).message).split('\n')[0].slice(0, 120)})`;
  }
  const envelope = isObject(document) ? document.Envelope : undefined;
  const body = isObject(envelope) ? envelope.Body : undefined;
  const notifications = isObject(body) ? body.notifications : undefined;
  if (!isObject(notifications)) return 'the body is not a SOAP envelope holding <notifications> (a Salesforce outbound message)';
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  return {
    OrganizationId: text(notifications.OrganizationId),
    ActionId: text(notifications.ActionId),
    EnterpriseUrl: text(notifications.EnterpriseUrl),
    PartnerUrl: text(notifications.PartnerUrl),
    Notification: Array.isArray(notifications.Notification) ? (notifications.Notification as Array<Record<string, unknown>>) : [],
  };
}

/** A record's fields as strings: `xsi:nil` fields left out, attributes dropped. */
function recordFields(sObject: unknown): Record<string, string> {
  if (!isObject(sObject)) return {};
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(sObject)) {
    if (name.startsWith('@_')) continue;
    if (typeof value === 'string') fields[name] = value;
    else if (isObject(value) && typeof value['#text'] === 'string') fields[name] = value['#text'];
  }
  return fields;
}

/** The org's own URL (`https://acme.my.salesforce.com`) from the message's API URLs, when it has one. */
function instanceUrl(message: { EnterpriseUrl?: string; PartnerUrl?: string }): string | undefined {
  for (const candidate of [message.EnterpriseUrl, message.PartnerUrl]) {
    if (!candidate) continue;
    try {
      const url = new URL(candidate);
      if (url.protocol === 'https:' && /(^|\.)(salesforce|force)\.com$/.test(url.hostname)) return url.origin;
    } catch {
      // not a URL: try the next
    }
  }
  return undefined;
}

/**
 * Salesforce Outbound Messages: SOAP XML with up to 100 notifications, each a record. No
 * signature: the OrganizationId must be the configured org's (15- and 18-character ids of one
 * org agree on their first 15). Answered with a SOAP Ack by the intake; redeliveries carry
 * the same notification Id.
 */
export class SalesforceAdapter implements SourceAdapter {
  readonly type = 'salesforce' as const;
  readonly platform = 'Salesforce';

  authMode(): string {
    return 'OrganizationId of the outbound message';
  }

  authenticate(source: SourceDefinition, request: NativeRequest): void {
    const { organization_id } = credentialsOf(source, 'salesforce');
    const message = parseOutboundMessage(request);
    if (typeof message === 'string') throw refuse('OrganizationId', `The OrganizationId cannot be read: ${message}.`);
    if (!message.OrganizationId) throw refuse('OrganizationId', 'Missing OrganizationId in the outbound message.');
    if (!secretEquals(message.OrganizationId.slice(0, 15), organization_id.slice(0, 15))) {
      throw refuse('OrganizationId', 'The OrganizationId of the outbound message is not the organization of this source.');
    }
  }

  split(request: NativeRequest): SplitRequest {
    const message = parseOutboundMessage(request);
    if (typeof message === 'string') throw payloadError(this.platform, [{ field: '(body)', message: `(body): ${message}` }]);
    const notifications = message.Notification;
    if (notifications.length === 0) throw payloadError(this.platform, [{ field: 'notifications.Notification', message: 'notifications.Notification is required: the message holds no notification' }]);
    if (notifications.length > MAX_EVENTS_PER_REQUEST) throw tooManyEvents(this.platform, 'notifications.Notification', notifications.length);
    const problems: SourceProblem[] = [];
    const events: NativeEvent[] = [];
    notifications.forEach((notification, index) => {
      const id = isObject(notification) ? idText(notification.Id) : undefined;
      if (!id) return void problems.push({ field: `Notification[${index}].Id`, message: `Notification[${index}].Id is required` });
      if (!isObject(notification.sObject)) return void problems.push({ field: `Notification[${index}].sObject`, message: `Notification[${index}].sObject is required` });
      events.push({
        eventId: id,
        payload: {
          OrganizationId: message.OrganizationId,
          ActionId: message.ActionId,
          EnterpriseUrl: message.EnterpriseUrl,
          PartnerUrl: message.PartnerUrl,
          Notification: { Id: id, sObject: notification.sObject },
        },
      });
    });
    if (problems.length) throw payloadError(this.platform, problems);
    return { events, ignored: [] };
  }

  fetchFor(): FetchRequest | null {
    return null;
  }

  mappingInput(_source: SourceDefinition, event: NativeEvent): unknown {
    const payload = event.payload as SalesforceMessage & { Notification: { Id: string; sObject: Record<string, unknown> } };
    const sObject = payload.Notification?.sObject ?? {};
    const type = typeof sObject['@_type'] === 'string' ? sObject['@_type'].replace(/^[^:]*:/, '') : undefined;
    return {
      organization_id: payload.OrganizationId,
      action_id: payload.ActionId,
      notification_id: payload.Notification?.Id,
      object_type: type,
      instance_url: instanceUrl(payload),
      record: recordFields(sObject),
    };
  }
}
