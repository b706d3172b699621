import { LeadMappingError } from '@app/leads';
import { NativeRequest, SourceAdapter, SplitRequest } from '../source-adapter';
import { FetchRequest, NativeEvent, SourceDefinition } from '../source.types';
import { credentialsOf, header, idText, isObject, jsonObjectBody, payloadError, refuse, secretEquals } from './adapter-utils';

const LEAD_ENTITIES = ['person', 'lead', 'deal'];

/** A deal's or lead's person id: v2 sends the number, v1 sent `{ value }`. */
function personIdOf(data: unknown): string | undefined {
  if (!isObject(data)) return undefined;
  const personId = data.person_id;
  return idText(isObject(personId) ? personId.value : personId);
}

/**
 * Pipedrive webhooks v2 (`{meta, data, previous}`): a person, lead or deal created. A deal or
 * lead carries its person's id only: the person is fetched with the API token. HTTP basic
 * auth set on the webhook. Pipedrive bans a webhook whose first tries fail, so the intake
 * answers 200 to payloads that are not leads (listed as ignored).
 */
export class PipedriveAdapter implements SourceAdapter {
  readonly type = 'pipedrive' as const;
  readonly platform = 'Pipedrive';

  authMode(): string {
    return 'HTTP basic auth (set on the webhook)';
  }

  authenticate(source: SourceDefinition, request: NativeRequest): void {
    const { basic_auth: expected } = credentialsOf(source, 'pipedrive');
    const authorization = header(request.headers, 'authorization');
    if (authorization === undefined) throw refuse('Authorization', 'Missing Authorization header: set HTTP auth (username and password) on the Pipedrive webhook.');
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    const decoded = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon < 0) throw refuse('Authorization', 'The Authorization header must be HTTP basic auth (Basic base64(username:password)).');
    // Both compared, whatever the first gives: the time taken tells nothing about either.
    const username = secretEquals(decoded.slice(0, colon), expected.username);
    const password = secretEquals(decoded.slice(colon + 1), expected.password);
    if (!(username && password)) throw refuse('Authorization', 'The Authorization header (HTTP basic auth) does not match the username and password of this source.');
  }

  split(request: NativeRequest): SplitRequest {
    const body = jsonObjectBody(request, this.platform);
    const meta = body.meta;
    if (!isObject(meta)) throw payloadError(this.platform, [{ field: 'meta', message: 'meta is required (a Pipedrive webhooks v2 payload: {meta, data, previous})' }]);
    if (meta.v === 1 || 'current' in body) {
      throw payloadError(this.platform, [{ field: 'meta.version', message: 'meta.version must be 2.0: this is a webhooks v1 payload; create the webhook as version 2.0' }]);
    }
    const entity = typeof meta.entity === 'string' ? meta.entity : undefined;
    const action = typeof meta.action === 'string' ? meta.action : undefined;
    if (!entity || !action) {
      const missing = !entity ? 'meta.entity' : 'meta.action';
      throw payloadError(this.platform, [{ field: missing, message: `${missing} is required (a Pipedrive webhooks v2 payload)` }]);
    }
    const entityId = idText(meta.entity_id) ?? idText(isObject(body.data) ? body.data.id : undefined);
    const eventId = idText(meta.id) ?? (entityId ? `${entity}:${entityId}` : null);
    if (action !== 'create') return { events: [], ignored: [{ eventId, reason: `meta.action ${action.slice(0, 32)} is not a creation` }] };
    if (!LEAD_ENTITIES.includes(entity)) return { events: [], ignored: [{ eventId, reason: `meta.entity ${entity.slice(0, 32)} is not a person, lead or deal` }] };
    if (!eventId) throw payloadError(this.platform, [{ field: 'meta.id', message: 'meta.id is required' }]);
    if (!isObject(body.data)) throw payloadError(this.platform, [{ field: 'data', message: 'data is required: the created record' }]);
    return { events: [{ eventId, payload: body }], ignored: [] };
  }

  fetchFor(event: NativeEvent): FetchRequest | null {
    const payload = event.payload as { meta?: { entity?: string }; data?: unknown };
    if (payload.meta?.entity === 'person') return null;
    const personId = personIdOf(payload.data);
    if (!personId) throw new LeadMappingError(`The Pipedrive ${payload.meta?.entity ?? 'record'} has no person_id: no person to make a lead of.`, [{ field: 'data.person_id', message: 'data.person_id is required' }]);
    return { platform: 'pipedrive', object: 'person', id: personId };
  }

  mappingInput(_source: SourceDefinition, event: NativeEvent, fetched: unknown | null): unknown {
    const payload = event.payload as { meta?: { entity?: string }; data?: unknown };
    const entity = payload.meta?.entity;
    // The persons API answers {success, data}; the fetcher passes the person on.
    const person = entity === 'person' ? payload.data : isObject(fetched) && isObject(fetched.data) ? fetched.data : fetched;
    return { event: payload, person: person ?? null, ...(entity === 'deal' || entity === 'lead' ? { [entity]: payload.data } : {}) };
  }
}
