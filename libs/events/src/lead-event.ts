import { createHash } from 'node:crypto';
import { Keyring } from '@app/config';
import { LeadEventInput } from './lead-event.types';

/**
 * The event's id, and its Standard Webhooks `webhook-id`: derived from lead, type and key, so
 * the same occurrence emitted twice (a worker that crashed after emitting) is one event, and
 * a receiver that deduplicates on webhook-id sees each occurrence once.
 */
export function leadEventId(leadId: string, type: string, key: string): string {
  return `evt_${createHash('sha256').update(`${leadId}\n${type}\n${key}`).digest('hex').slice(0, 32)}`;
}

/**
 * The body as signed and sent: `{type, timestamp, data: {lead_id, source, …data}}`. An
 * event's data can never overwrite which lead and source it speaks of.
 */
export function leadEventBody(event: LeadEventInput, at: Date): string {
  const { lead_id, source, ...data } = event.data;
  return JSON.stringify({ type: event.type, timestamp: at.toISOString(), data: { lead_id: event.lead_id, source: event.source, ...data } });
}

/** The source's own reference of a lead (`prospect.external_ref`), the one lead field events carry: it is the source's id, not the prospect's. */
export function externalRefOf(lead: unknown): { external_ref: string; external_ref_company?: string } | null {
  const ref = (lead as { prospect?: { external_ref?: unknown } } | null)?.prospect?.external_ref;
  if (!ref || typeof ref !== 'object' || typeof (ref as { external_ref?: unknown }).external_ref !== 'string') return null;
  const { external_ref, external_ref_company } = ref as { external_ref: string; external_ref_company?: unknown };
  return typeof external_ref_company === 'string' ? { external_ref, external_ref_company } : { external_ref };
}

/**
 * An event body at rest: sealed with DATA_ENCRYPTION_KEY like lead data, since a lead.updated
 * body carries WeGroup's callback whole, which can hold the prospect's details.
 */
export function sealEventBody(keyring: Keyring, body: string): string {
  return keyring.seal(body);
}

/** The body to sign and send; a body stored before bodies were sealed is read as it is. */
export function openEventBody(keyring: Keyring, stored: string): string {
  return Keyring.isSealed(stored) ? keyring.open(stored) : stored;
}

/** Says where WeGroup's callback body was, once the lead's personal data is gone. */
export const CALLBACK_BODY_REMOVED = '(removed with the personal data)';

/**
 * A lead.updated body without WeGroup's callback body (erasure); null when the body has
 * nothing to remove. Everything else (ids, times, the source's own reference) stays.
 */
export function withoutCallbackBody(body: string): string | null {
  const parsed = JSON.parse(body) as { data?: { callback?: { body?: unknown } } };
  const callback = parsed.data?.callback;
  if (!callback || callback.body === CALLBACK_BODY_REMOVED) return null;
  callback.body = CALLBACK_BODY_REMOVED;
  return JSON.stringify(parsed);
}
