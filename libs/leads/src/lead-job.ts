/** A prospect as WeGroup takes it. Fields beyond the documented ones pass through untouched. */
export interface Prospect {
  first_name: string;
  last_name: string;
  callbacks?: string[];
  external_ref?: { external_ref: string; external_ref_company?: string };
  risk_objects?: Record<string, unknown>;
  [field: string]: unknown;
}

/** Exactly what is sent to WeGroup as the request body. */
export interface LeadBody {
  origin?: string;
  backref?: string;
  prospect: Prospect;
}

// The job payloads, typed by job name, live with the queue they travel through (@app/queue),
// so the typed LeadsQueue needs nothing from this lib; they are the lead's too, hence re-exported.
export type { DeliverLeadJobData, DeliveryResult, LeadJobName, LeadJobs } from '@app/queue';

/** One delivery attempt in a lead's log (each entry is a BullMQ job log line). */
export interface AttemptRecord {
  kind: 'attempt';
  attempt: number;
  at: string;
  duration_ms: number;
  /** `rate_limited`: WeGroup answered 429; the lead waits without spending the attempt. */
  outcome: 'delivered' | 'transient' | 'permanent' | 'rate_limited';
  status_code: number | null;
  error: string | null;
  /** WeGroup's response body, truncated. */
  body: string | null;
  /** The wait chosen before the next attempt; null when there is none. */
  next_delay_ms: number | null;
  /** WeGroup's Retry-After as it asked, in ms; next_delay_ms and pause_ms hold what was honoured (capped). */
  retry_after_ms?: number | null;
  /** How long every delivery was paused after this attempt (429, Retry-After, circuit opened). */
  pause_ms?: number | null;
  /** An unexpected error's stack, causes included (no WeGroup answer to show). */
  stack?: string | null;
}

/** Ops re-queued a failed lead with a fresh schedule. */
export interface ReplayRecord {
  kind: 'replayed';
  at: string;
  by: string;
}

/** The lead waits for a broker to sign in to WeGroup again (no request was sent). */
export interface HeldRecord {
  kind: 'held';
  at: string;
  reason: string;
  until: string;
}

export type LeadLogEntry = AttemptRecord | ReplayRecord | HeldRecord;
