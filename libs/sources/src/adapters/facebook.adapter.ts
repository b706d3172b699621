import { MAX_EVENTS_PER_REQUEST, NativeRequest, SourceAdapter, SplitRequest } from '../source-adapter';
import { FetchRequest, NativeEvent, SourceDefinition, SourceProblem } from '../source.types';
import { credentialsOf, header, hmacSha256, idText, isObject, jsonObjectBody, payloadError, queryParam, rawBytes, refuse, secretEquals, tooManyEvents } from './adapter-utils';

/** A Graph API lead's `field_data` as `{ name: first value }`. */
export function facebookFields(lead: unknown): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const data = isObject(lead) && Array.isArray(lead.field_data) ? lead.field_data : [];
  for (const field of data) {
    if (!isObject(field) || typeof field.name !== 'string' || field.name in fields) continue;
    fields[field.name] = Array.isArray(field.values) ? field.values[0] : field.values;
  }
  return fields;
}

/**
 * Facebook (and Instagram) Lead Ads: `leadgen` change notifications on the Page, ids only:
 * each lead is fetched from the Graph API with the page token. A GET handshake proves the
 * URL (verify token); POSTs are signed with the app secret (`X-Hub-Signature-256`).
 */
export class FacebookAdapter implements SourceAdapter {
  readonly type = 'facebook' as const;
  readonly platform = 'Facebook Lead Ads';

  authMode(): string {
    return 'X-Hub-Signature-256 (app secret); GET verification with the verify token';
  }

  authenticate(source: SourceDefinition, request: NativeRequest): void {
    const { app_secret } = credentialsOf(source, 'facebook');
    const signature = header(request.headers, 'x-hub-signature-256');
    if (signature === undefined) throw refuse('X-Hub-Signature-256', 'Missing X-Hub-Signature-256 header.');
    const match = /^sha256=([0-9a-fA-F]{64})$/.exec(signature.trim());
    if (!match) throw refuse('X-Hub-Signature-256', 'The X-Hub-Signature-256 header must be sha256=<hex signature>.');
    if (!secretEquals(Buffer.from(match[1], 'hex'), hmacSha256(app_secret, rawBytes(request)))) {
      throw refuse('X-Hub-Signature-256', 'The X-Hub-Signature-256 header does not match: the body was changed, or it was signed with another app secret.');
    }
  }

  verificationChallenge(source: SourceDefinition, request: NativeRequest): string {
    const { verify_token } = credentialsOf(source, 'facebook');
    if (queryParam(request, 'hub.mode') !== 'subscribe') throw refuse('hub.mode', 'The hub.mode parameter must be subscribe.');
    const token = queryParam(request, 'hub.verify_token');
    if (token === undefined) throw refuse('hub.verify_token', 'Missing hub.verify_token parameter.');
    if (!secretEquals(token, verify_token)) throw refuse('hub.verify_token', 'The hub.verify_token parameter does not match the verify token of this source.');
    const challenge = queryParam(request, 'hub.challenge');
    if (challenge === undefined || challenge.length > 1024) throw refuse('hub.challenge', 'Missing hub.challenge parameter.');
    return challenge;
  }

  split(request: NativeRequest): SplitRequest {
    const body = jsonObjectBody(request, this.platform);
    if (!Array.isArray(body.entry)) throw payloadError(this.platform, [{ field: 'entry', message: 'entry must be an array (a Page webhook notification)' }]);
    const split: SplitRequest = { events: [], ignored: [] };
    const problems: SourceProblem[] = [];
    let changes = 0;
    body.entry.forEach((entry, e) => {
      if (!isObject(entry) || !Array.isArray(entry.changes)) return void problems.push({ field: `entry[${e}].changes`, message: `entry[${e}].changes must be an array` });
      entry.changes.forEach((change, c) => {
        changes++;
        const field = `entry[${e}].changes[${c}]`;
        if (!isObject(change)) return void problems.push({ field, message: `${field} must be an object` });
        if (change.field !== 'leadgen') {
          const kind = typeof change.field === 'string' ? change.field.slice(0, 40) : 'unknown';
          return void split.ignored.push({ eventId: null, reason: `${field}.field ${kind} is not leadgen` });
        }
        const value = change.value;
        const leadgenId = isObject(value) ? idText(value.leadgen_id) : undefined;
        if (!leadgenId) return void problems.push({ field: `${field}.value.leadgen_id`, message: `${field}.value.leadgen_id is required` });
        split.events.push({ eventId: leadgenId, payload: { change: value, page_id: idText(entry.id) ?? idText((value as Record<string, unknown>).page_id), time: entry.time } });
      });
    });
    if (changes > MAX_EVENTS_PER_REQUEST) throw tooManyEvents(this.platform, 'entry[].changes', changes);
    if (problems.length) throw payloadError(this.platform, problems);
    return split;
  }

  fetchFor(event: NativeEvent): FetchRequest | null {
    return { platform: 'facebook', object: 'leadgen', id: event.eventId };
  }

  mappingInput(_source: SourceDefinition, event: NativeEvent, fetched: unknown | null): unknown {
    const payload = isObject(event.payload) ? event.payload : {};
    return { change: payload.change ?? {}, page_id: payload.page_id, lead: fetched ?? null, fields: facebookFields(fetched) };
  }
}
