import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { HookAuthentication, NativeRequest, SourceAdapter, SplitContext, SplitRequest } from '../source-adapter';
import { FetchRequest, NativeEvent, SourceDefinition } from '../source.types';
import { bodyDigest, credentialsOf, header, jsonObjectBody, rawBytes, refuse, secretEquals } from './adapter-utils';

/** The Standard Webhooks tolerance: 5 minutes either way. */
const TOLERANCE_SECONDS = 5 * 60;
const WEBHOOK_ID = /^[\x21-\x7e]{1,255}$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * Any JSON, authenticated with `X-API-Key` (and Standard Webhooks signatures when the source
 * has secrets), today's POST /v1/leads rules. Without a custom mapping the intake treats the
 * hook as POST /v1/leads; with one, the body is the mapping's `$`.
 */
export class JsonAdapter implements SourceAdapter {
  readonly type = 'json' as const;
  readonly platform = 'JSON';

  authMode(source: SourceDefinition): string {
    return credentialsOf(source, 'json').webhook_secrets.length ? 'X-API-Key header and Standard Webhooks signature' : 'X-API-Key header';
  }

  authenticate(source: SourceDefinition, request: NativeRequest, now: number): HookAuthentication {
    const credentials = credentialsOf(source, 'json');
    const key = header(request.headers, 'x-api-key');
    if (key === undefined) throw refuse('X-API-Key', 'Missing X-API-Key header.');
    let matches = false;
    for (const expected of credentials.api_keys ?? [credentials.api_key]) matches = secretEquals(key, expected) || matches;
    if (!matches) throw refuse('X-API-Key', 'The X-API-Key header does not match the key of this source.');
    if (credentials.webhook_secrets.length === 0) return {};
    return { webhookId: verifySignature(source.name, credentials.webhook_secrets, request, now) };
  }

  split(request: NativeRequest, context: SplitContext = {}): SplitRequest {
    const body = jsonObjectBody(request, this.platform);
    const idempotencyKey = header(request.headers, 'idempotency-key');
    const eventId = context.webhookId ?? (idempotencyKey && IDEMPOTENCY_KEY.test(idempotencyKey) ? idempotencyKey : bodyDigest(body));
    return { events: [{ eventId, payload: body }], ignored: [] };
  }

  fetchFor(): FetchRequest | null {
    return null;
  }

  mappingInput(_source: SourceDefinition, event: NativeEvent): unknown {
    return event.payload;
  }
}

/** The verified webhook-id, or a HookAuthError naming the header at fault. */
function verifySignature(name: string, secrets: string[], request: NativeRequest, now: number): string {
  const id = header(request.headers, 'webhook-id');
  const timestamp = header(request.headers, 'webhook-timestamp');
  const signature = header(request.headers, 'webhook-signature');
  const missing = [id === undefined && 'webhook-id', timestamp === undefined && 'webhook-timestamp', signature === undefined && 'webhook-signature'].filter(
    (field): field is string => typeof field === 'string',
  );
  if (missing.length) throw refuse(missing[0], `Missing ${missing.join(', ')} header${missing.length > 1 ? 's' : ''}: source "${name}" must sign its requests (Standard Webhooks).`);
  if (!WEBHOOK_ID.test(id!)) throw refuse('webhook-id', 'The webhook-id header must be 1 to 255 visible ASCII characters.');
  if (!/^\d{1,12}$/.test(timestamp!)) throw refuse('webhook-timestamp', 'The webhook-timestamp header must be a Unix time in seconds.');
  const age = Math.floor(now / 1000) - Number(timestamp);
  if (Math.abs(age) > TOLERANCE_SECONDS) {
    throw refuse('webhook-timestamp', `The webhook-timestamp header is ${Math.abs(age)} s ${age > 0 ? 'old' : 'in the future'}; at most ${TOLERANCE_SECONDS} s is accepted.`);
  }
  for (const secret of secrets) {
    try {
      // The library checks the timestamp against its own clock too (same tolerance).
      new Webhook(secret).verify(rawBytes(request), { 'webhook-id': id!, 'webhook-timestamp': timestamp!, 'webhook-signature': signature! });
      return id!;
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
    }
  }
  throw refuse('webhook-signature', `The webhook-signature header matches no signing secret of source "${name}".`);
}
