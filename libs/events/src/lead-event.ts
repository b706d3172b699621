import { createHash } from 'node:crypto';
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
