import { DELIVER_LEAD_JOB } from '@app/queue/queue.constants';

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

export interface DeliverLeadJobData {
  lead_id: string;
  /** The intake source (CRM) that posted the lead, from its API key. */
  source: string;
  distribution_id: string;
  received_at: string;
  /** The LeadBody, sealed with DATA_ENCRYPTION_KEY (lead-sealing.ts); null once erased. */
  sealed_lead: string | null;
  /** When the personal data was removed (retention or an erasure request). */
  lead_erased_at?: string;
  /** Keyed digest of the request body, to tell an idempotent replay from a conflicting reuse of a key. */
  body_hash: string;
  /** Time this lead has spent paused by WeGroup's 429s (which do not spend attempts). */
  rate_limited_ms?: number;
  /** The intake request's id (X-Request-ID): the worker logs with it and sends it on to WeGroup. */
  request_id?: string;
}

/** Job payloads by job name: producer and consumer both type against this map. */
export interface LeadJobs {
  [DELIVER_LEAD_JOB]: DeliverLeadJobData;
}

export type LeadJobName = keyof LeadJobs;

/** What a finished delivery returns (the job's return value); WeGroup's body stays in the sealed log. */
export interface DeliveryResult {
  status_code: number;
  /** The lead id WeGroup answered with, when its body carries one. */
  lead_id: string | null;
}

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
