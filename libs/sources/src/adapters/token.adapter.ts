import { NativeRequest, SourceAdapter, SplitRequest } from '../source-adapter';
import { FetchRequest, NativeEvent, SourceDefinition, TokenCredentials } from '../source.types';
import { bodyDigest, header, idText, isObject, jsonObjectBody, payloadError, queryParam, refuse, secretEquals } from './adapter-utils';

/** The shared token of a zoho or dynamics source: `X-Source-Token` header, or `token` query parameter. */
function authenticateToken(source: SourceDefinition, request: NativeRequest): void {
  const { token } = source.credentials as TokenCredentials;
  const presented = header(request.headers, 'x-source-token');
  const field = presented !== undefined ? 'X-Source-Token' : 'token';
  const value = presented ?? queryParam(request, 'token');
  if (value === undefined) throw refuse('X-Source-Token', 'Missing X-Source-Token header (or token query parameter).');
  if (!secretEquals(value, token)) throw refuse(field, `The ${field === 'token' ? 'token query parameter' : 'X-Source-Token header'} does not match the token of this source.`);
}

const TOKEN_MODE = 'shared token (X-Source-Token header or token query parameter)';

/** Zoho and Dynamics authenticate alike: a shared token in a header or the query. */
abstract class TokenAdapter implements SourceAdapter {
  abstract readonly type: 'zoho' | 'dynamics';
  abstract readonly platform: string;
  abstract split(request: NativeRequest): SplitRequest;
  abstract fetchFor(): FetchRequest | null;
  abstract mappingInput(source: SourceDefinition, event: NativeEvent): unknown;

  authMode(): string {
    return TOKEN_MODE;
  }

  authenticate(source: SourceDefinition, request: NativeRequest): void {
    authenticateToken(source, request);
  }
}

/**
 * Zoho CRM workflow webhooks: the record's fields the user picked, as form fields or JSON.
 * Keyed by the record id (`id`, `Id` or `record_id`) when sent, else by the body's digest.
 */
export class ZohoAdapter extends TokenAdapter {
  readonly type = 'zoho' as const;
  readonly platform = 'Zoho CRM';


  split(request: NativeRequest): SplitRequest {
    const body = jsonObjectBody(request, this.platform);
    if (Array.isArray(body.ids) && typeof body.operation === 'string') {
      throw payloadError(this.platform, [
        { field: 'ids', message: 'ids: a Zoho notification (ids only) cannot be mapped; send the record\'s fields with a workflow webhook' },
      ]);
    }
    const id = idText(body.id) ?? idText(body.Id) ?? idText(body.ID) ?? idText(body.record_id);
    return { events: [{ eventId: id ? `record:${id}` : bodyDigest(body), payload: body }], ignored: [] };
  }

  fetchFor(): FetchRequest | null {
    return null;
  }

  mappingInput(_source: SourceDefinition, event: NativeEvent): unknown {
    return { event: event.payload };
  }
}

/** A Dataverse value as JSON gives it: `/Date(ms)/` as an ISO date-time; others as they are. */
function dataverseValue(value: unknown): unknown {
  if (typeof value === 'string') {
    const match = /^\/Date\((-?\d+)(?:[+-]\d{4})?\)\/$/.exec(value);
    if (match) {
      const date = new Date(Number(match[1]));
      return Number.isNaN(date.getTime()) ? value : date.toISOString();
    }
  }
  return value;
}

/** `[{key, value}]` (Dataverse's collections) as an object. */
function keyValues(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of Array.isArray(list) ? list : []) {
    if (isObject(item) && typeof item.key === 'string' && !(item.key in out)) out[item.key] = dataverseValue(item.value);
  }
  return out;
}

/**
 * Dynamics 365 / Dataverse webhooks: the RemoteExecutionContext of a Create (or other)
 * message; the record's columns are the `Target` input parameter's Attributes. Keyed by the
 * message and PrimaryEntityId.
 */
export class DynamicsAdapter extends TokenAdapter {
  readonly type = 'dynamics' as const;
  readonly platform = 'Dynamics 365';


  split(request: NativeRequest): SplitRequest {
    const body = jsonObjectBody(request, this.platform);
    const id = idText(body.PrimaryEntityId);
    const message = typeof body.MessageName === 'string' && body.MessageName !== '' ? body.MessageName.slice(0, 64) : undefined;
    const problems = [];
    if (!id) problems.push({ field: 'PrimaryEntityId', message: 'PrimaryEntityId is required (a Dataverse RemoteExecutionContext)' });
    if (!message) problems.push({ field: 'MessageName', message: 'MessageName is required (a Dataverse RemoteExecutionContext)' });
    if (problems.length) throw payloadError(this.platform, problems);
    const eventId = `${message}:${id}`;
    if (message === 'Delete') return { events: [], ignored: [{ eventId, reason: 'MessageName Delete is not a new record' }] };
    // Dataverse drops the parameters of a context over 256 KB: without Target or a post image
    // there is no record to map, and a lead stored now could only fail later.
    if (!isObject(keyValues(body.InputParameters).Target) && Object.keys(keyValues(body.PostEntityImages)).length === 0) {
      throw payloadError(this.platform, [
        {
          field: 'InputParameters.Target',
          message: 'InputParameters has no Target entity and there is no PostEntityImages entry: nothing to map (Dataverse leaves the parameters out of contexts over 256 KB; register a post image on the step)',
        },
      ]);
    }
    return { events: [{ eventId, payload: body }], ignored: [] };
  }

  fetchFor(): FetchRequest | null {
    return null;
  }

  mappingInput(_source: SourceDefinition, event: NativeEvent): unknown {
    const context = isObject(event.payload) ? event.payload : {};
    const target = keyValues(context.InputParameters).Target;
    const postImage = Object.values(keyValues(context.PostEntityImages))[0];
    const entity = isObject(target) ? target : isObject(postImage) ? postImage : {};
    return {
      event: context,
      record: keyValues(entity.Attributes),
      entity: context.PrimaryEntityName,
      id: context.PrimaryEntityId,
    };
  }
}
