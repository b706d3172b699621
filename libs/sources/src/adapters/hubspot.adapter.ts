import { MAX_EVENTS_PER_REQUEST, NativeRequest, SourceAdapter, SplitRequest } from '../source-adapter';
import { FetchRequest, NativeEvent, SourceDefinition, SourceProblem } from '../source.types';
import { credentialsOf, header, hmacSha256, idText, isObject, payloadError, rawBytes, refuse, secretEquals, tooManyEvents } from './adapter-utils';

/** HubSpot refuses nothing older; we refuse a signature older (or further ahead) than this. */
export const HUBSPOT_SIGNATURE_TOLERANCE_MS = 5 * 60 * 1000;

/**
 * The characters HubSpot's v3 instructions decode in the URI before signing (the URL-encoded
 * forms of `:/?@!$'()*,;`); everything else stays as sent.
 */
const DECODED_IN_URI: Record<string, string> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

export function hubspotSignedUri(url: string): string {
  return url.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (match) => DECODED_IN_URI[match.toUpperCase()]);
}

/** Whether a v3 event (or the newer generic `object.creation` of object type 0-1) is a contact's creation. */
function isContactCreation(event: Record<string, unknown>): boolean {
  if (event.subscriptionType === 'contact.creation') return true;
  return event.subscriptionType === 'object.creation' && event.objectTypeId === '0-1';
}

/** A workflow body's record id: the CRM API's `objectId`/`id`/`vid`, or the `hs_object_id` property. */
function workflowRecordId(body: Record<string, unknown>): string | undefined {
  const properties = isObject(body.properties) ? body.properties : body;
  const property = properties.hs_object_id;
  const fromProperty = isObject(property) ? property.value : property;
  return idText(body.objectId) ?? idText(body.id) ?? idText(body.vid) ?? idText(body['canonical-vid']) ?? idText(fromProperty);
}

/** Properties in the CRM API's old history format (`{ value, versions }`) as their values. */
export function flattenHubspotProperties(properties: unknown): Record<string, unknown> {
  if (!isObject(properties)) return {};
  return Object.fromEntries(Object.entries(properties).map(([name, value]) => [name, isObject(value) && 'value' in value ? value.value : value]));
}

/**
 * HubSpot: Webhooks API v3 event arrays (`contact.creation`, ids only: the contact is fetched),
 * and the workflow "Send a webhook" action (the record's properties). Signature v3 with the
 * app's client secret, or an API key header the workflow action sends.
 */
export class HubspotAdapter implements SourceAdapter {
  readonly type = 'hubspot' as const;
  readonly platform = 'HubSpot';

  authMode(source: SourceDefinition): string {
    const credentials = credentialsOf(source, 'hubspot');
    const modes = [credentials.client_secret && 'X-HubSpot-Signature-v3 (client secret)', credentials.api_key && 'X-API-Key header'].filter(Boolean);
    return modes.join(' or ');
  }

  authenticate(source: SourceDefinition, request: NativeRequest, now: number): void {
    const credentials = credentialsOf(source, 'hubspot');
    const signature = header(request.headers, 'x-hubspot-signature-v3');
    if (credentials.client_secret && (signature !== undefined || !credentials.api_key)) {
      if (signature === undefined) throw refuse('X-HubSpot-Signature-v3', 'Missing X-HubSpot-Signature-v3 header: HubSpot signs its requests with the app\'s client secret.');
      const timestamp = header(request.headers, 'x-hubspot-request-timestamp');
      if (timestamp === undefined) throw refuse('X-HubSpot-Request-Timestamp', 'Missing X-HubSpot-Request-Timestamp header.');
      if (!/^\d{1,15}$/.test(timestamp)) throw refuse('X-HubSpot-Request-Timestamp', 'The X-HubSpot-Request-Timestamp header must be a Unix time in milliseconds.');
      const age = now - Number(timestamp);
      if (age > HUBSPOT_SIGNATURE_TOLERANCE_MS) {
        throw refuse('X-HubSpot-Request-Timestamp', `The X-HubSpot-Request-Timestamp header is ${Math.round(age / 1000)} s old; at most ${HUBSPOT_SIGNATURE_TOLERANCE_MS / 1000} s is accepted (a replay, or a clock is wrong).`);
      }
      if (-age > HUBSPOT_SIGNATURE_TOLERANCE_MS) {
        throw refuse('X-HubSpot-Request-Timestamp', `The X-HubSpot-Request-Timestamp header is ${Math.round(-age / 1000)} s in the future (a clock is wrong).`);
      }
      const expected = hmacSha256(credentials.client_secret, `${request.method.toUpperCase()}${hubspotSignedUri(request.url)}`, rawBytes(request), timestamp);
      if (!secretEquals(Buffer.from(signature, 'base64'), expected)) {
        throw refuse(
          'X-HubSpot-Signature-v3',
          'The X-HubSpot-Signature-v3 header does not match: the body, URI or timestamp was changed, or it was signed with another client secret (behind a proxy, set PUBLIC_BASE_URL to the URL HubSpot calls).',
        );
      }
      return;
    }
    const key = header(request.headers, 'x-api-key');
    if (key === undefined) throw refuse('X-API-Key', 'Missing X-API-Key header (or X-HubSpot-Signature-v3).');
    if (!secretEquals(key, credentials.api_key!)) throw refuse('X-API-Key', 'The X-API-Key header does not match the key of this source.');
  }

  split(request: NativeRequest): SplitRequest {
    const body = request.body;
    if (Array.isArray(body)) return this.splitEvents(body);
    if (!isObject(body)) throw payloadError(this.platform, [{ field: '(body)', message: '(body) must be a JSON array of v3 events or a workflow webhook object' }]);
    const id = workflowRecordId(body);
    if (!id) {
      throw payloadError(this.platform, [
        { field: 'objectId', message: 'objectId is required: a workflow webhook must carry the record id (objectId, vid, or the hs_object_id property)' },
      ]);
    }
    return { events: [{ eventId: `contact:${id}`, payload: body }], ignored: [] };
  }

  private splitEvents(body: unknown[]): SplitRequest {
    if (body.length === 0) throw payloadError(this.platform, [{ field: '(body)', message: '(body) is an empty array of events' }]);
    if (body.length > MAX_EVENTS_PER_REQUEST) throw tooManyEvents(this.platform, '(body)', body.length);
    const problems: SourceProblem[] = [];
    const split: SplitRequest = { events: [], ignored: [] };
    body.forEach((event, index) => {
      if (!isObject(event)) return void problems.push({ field: `[${index}]`, message: `[${index}] must be an event object` });
      const eventId = idText(event.eventId);
      if (!eventId) return void problems.push({ field: `[${index}].eventId`, message: `[${index}].eventId is required` });
      if (!isContactCreation(event)) {
        const kind = typeof event.subscriptionType === 'string' ? event.subscriptionType.slice(0, 64) : 'unknown';
        return void split.ignored.push({ eventId, reason: `subscriptionType ${kind} is not a contact creation` });
      }
      if (!idText(event.objectId)) return void problems.push({ field: `[${index}].objectId`, message: `[${index}].objectId is required` });
      split.events.push({ eventId, payload: event });
    });
    if (problems.length) throw payloadError(this.platform, problems);
    return split;
  }

  fetchFor(event: NativeEvent): FetchRequest | null {
    const payload = event.payload;
    if (isObject(payload) && 'subscriptionType' in payload) return { platform: 'hubspot', object: 'contact', id: idText(payload.objectId)! };
    return null;
  }

  mappingInput(_source: SourceDefinition, event: NativeEvent, fetched: unknown | null): unknown {
    const payload = isObject(event.payload) ? event.payload : {};
    if ('subscriptionType' in payload) {
      const contact = isObject(fetched) ? fetched : {};
      return { event: payload, record: { id: idText(contact.id) ?? idText(payload.objectId), properties: flattenHubspotProperties(contact.properties) } };
    }
    const properties = flattenHubspotProperties(isObject(payload.properties) ? payload.properties : payload);
    return { event: payload, record: { id: workflowRecordId(payload), properties } };
  }
}
