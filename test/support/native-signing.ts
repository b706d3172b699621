import { createHmac, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * The signatures each platform puts on its webhook requests, written from the platforms'
 * own documentation and independent of the intake's code: if both read a document the same
 * wrong way, the e2e tests would not notice, so each function quotes the rule it follows.
 * `body` is always the exact bytes sent (signatures cover bytes, never re-serialised JSON).
 */

type Body = string | Buffer;

/**
 * HubSpot, "Validating requests", v3: `X-HubSpot-Signature-v3` is the base64 HMAC-SHA256,
 * keyed with the app's client secret, of the UTF-8 string method + URI + body + timestamp,
 * where the timestamp is `X-HubSpot-Request-Timestamp` (Unix milliseconds) and the URI is the
 * full URL HubSpot called (scheme, host, path, query). Requests older than 5 minutes are to be
 * refused.
 */
export function hubspotV3Headers(options: {
  clientSecret: string;
  method?: string;
  /** The full URL as HubSpot called it, e.g. `https://leads.example.com/v1/hooks/hubspot-main`. */
  uri: string;
  body: Body;
  /** Unix milliseconds; now by default. */
  timestamp?: number;
}): Record<string, string> {
  const timestamp = String(options.timestamp ?? Date.now());
  const source = Buffer.concat([Buffer.from(`${options.method ?? 'POST'}${options.uri}`), Buffer.from(options.body), Buffer.from(timestamp)]);
  return {
    'x-hubspot-signature-v3': createHmac('sha256', options.clientSecret).update(source).digest('base64'),
    'x-hubspot-request-timestamp': timestamp,
    'x-hubspot-signature-version': 'v3',
  };
}

/**
 * Typeform, "Secure your webhooks": `Typeform-Signature: sha256=<base64 of the HMAC-SHA256
 * of the raw payload, keyed with the webhook's secret>`.
 */
export function typeformSignature(secret: string, body: Body): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('base64')}`;
}

/**
 * Meta, "Webhooks: validate payloads": `X-Hub-Signature-256: sha256=<hex of the
 * HMAC-SHA256 of the raw payload, keyed with the app secret>`.
 */
export function facebookSignature(appSecret: string, body: Body): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

/** Standard Webhooks (standardwebhooks.com), through its reference library, as a CRM would sign. */
export function standardWebhookHeaders(secret: string, body: Body, id: string = `msg_${randomUUID()}`, at: Date = new Date()): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, typeof body === 'string' ? body : body.toString('utf8')),
  };
}

/** HTTP Basic credentials, as Pipedrive sends the user name and password set on the webhook. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
