import { HttpStatus } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { ProblemException } from '../common/problem';

/** The Standard Webhooks tolerance (and the `standardwebhooks` library's): 5 minutes either way. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

/** A webhook-id doubles as an idempotency key, so it follows the Idempotency-Key rules. */
const WEBHOOK_ID = /^[\x21-\x7e]{1,255}$/;
const UNIX_SECONDS = /^\d{1,12}$/;

/**
 * Verifies Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`: HMAC-SHA256 over `id.timestamp.body`) with the spec's reference
 * library, against the raw body bytes. Each source may have several secrets (rotation):
 * they are tried in turn, and the header may carry several signatures.
 */
export class WebhookSignatureVerifier {
  private readonly webhooks: Map<string, Webhook[]>;

  constructor(secrets: Map<string, string[]>) {
    this.webhooks = new Map([...secrets].map(([source, list]) => [source, list.map((secret) => new Webhook(secret))]));
  }

  /** Whether requests of this source must be signed. */
  requiresSignature(source: string): boolean {
    return this.webhooks.has(source);
  }

  /**
   * Returns the verified webhook-id, or throws a 401 whose detail names the header at fault.
   */
  verify(source: string, body: Buffer, headers: IncomingHttpHeaders): string {
    const webhooks = this.webhooks.get(source) ?? [];
    const id = header(headers, 'webhook-id');
    const timestamp = header(headers, 'webhook-timestamp');
    const signature = header(headers, 'webhook-signature');
    const missing = [id === undefined && 'webhook-id', timestamp === undefined && 'webhook-timestamp', signature === undefined && 'webhook-signature'].filter(Boolean);
    if (missing.length) {
      throw unauthorized(
        `Missing ${missing.join(', ')} header${missing.length > 1 ? 's' : ''}: source "${source}" must sign its requests (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature).`,
      );
    }
    if (!WEBHOOK_ID.test(id!)) throw unauthorized('The webhook-id header must be 1 to 255 visible ASCII characters.');
    if (!UNIX_SECONDS.test(timestamp!)) throw unauthorized('The webhook-timestamp header must be a Unix time in seconds.');
    const age = Math.floor(Date.now() / 1000) - Number(timestamp);
    if (age > WEBHOOK_TOLERANCE_SECONDS) {
      throw unauthorized(
        `The webhook-timestamp header is ${age} s old; at most ${WEBHOOK_TOLERANCE_SECONDS} s is accepted (a replay, or the sender's clock is wrong).`,
      );
    }
    if (-age > WEBHOOK_TOLERANCE_SECONDS) {
      throw unauthorized(
        `The webhook-timestamp header is ${-age} s in the future; at most ${WEBHOOK_TOLERANCE_SECONDS} s is accepted (the sender's clock is wrong).`,
      );
    }
    for (const webhook of webhooks) {
      try {
        webhook.verify(body, { 'webhook-id': id!, 'webhook-timestamp': timestamp!, 'webhook-signature': signature! }, { jsonParse: false });
        return id!;
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) throw error;
      }
    }
    throw unauthorized(
      `The webhook-signature header matches no signing secret of source "${source}": the body, webhook-id or webhook-timestamp was changed, or it was signed with another secret.`,
    );
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  const text = Array.isArray(value) ? value.join(', ') : value;
  return text === undefined || text === '' ? undefined : text;
}

function unauthorized(detail: string): ProblemException {
  return new ProblemException(HttpStatus.UNAUTHORIZED, detail);
}
