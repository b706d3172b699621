/**
 * Lead events back to the source (issue: closing the loop). Sent as Standard Webhooks:
 * `webhook-id` = the event id (stable), `webhook-timestamp`, `webhook-signature`; body
 * `{type, timestamp, data}`. No prospect field is ever in `data`: only our ids, the source's
 * own external_ref, WeGroup's status and id, reasons in words, and WeGroup's callback body.
 */
export const LEAD_EVENT_TYPES = ['lead.delivered', 'lead.failed', 'lead.retrying', 'lead.erased', 'lead.updated'] as const;
export type LeadEventType = (typeof LEAD_EVENT_TYPES)[number];

/** Sent unless a source lists its own `types`: all but `lead.retrying`, which is opt-in. */
export const DEFAULT_EVENT_TYPES: readonly LeadEventType[] = ['lead.delivered', 'lead.failed', 'lead.erased', 'lead.updated'];

/** What happened to which lead: the emitter builds the event and its id from it. */
export interface LeadEventInput {
  type: LeadEventType;
  lead_id: string;
  source: string;
  /**
   * Tells this occurrence apart from others of the same type on the same lead (the event id is
   * derived from lead, type and key, so an emitter retried after a crash sends the same event
   * again, never a second one): e.g. the attempt number for lead.failed/lead.retrying, the
   * callback's index for lead.updated, '' for once-only events.
   */
  key: string;
  /** The type's `data` (see the README's event catalogue). */
  data: Record<string, unknown>;
  /** When it happened (default now). */
  at?: Date;
}

/**
 * Queues lead events for the source's endpoint (nothing when the source has none, or does
 * not take this type). Resolves once the event job is stored; never sends itself, so a
 * dead endpoint cannot slow the caller. Abstract: the DI token (EventsModule provides it).
 */
export abstract class LeadEventEmitter {
  /** Whether the source has an events endpoint that takes this type: only then does emit() store anything. */
  abstract takes(source: string, type: LeadEventInput['type']): boolean;
  abstract emit(event: LeadEventInput): Promise<void>;
}
