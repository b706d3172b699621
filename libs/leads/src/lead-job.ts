import { DELIVER_LEAD_JOB } from '@app/queue';

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
  lead: LeadBody;
}

/** Job payloads by job name: producer and consumer both type against this map. */
export interface LeadJobs {
  [DELIVER_LEAD_JOB]: DeliverLeadJobData;
}

export type LeadJobName = keyof LeadJobs;

/** What a finished delivery returns (the job's return value). */
export interface DeliveryResult {
  status_code: number;
  /** The lead id WeGroup answered with, when its body carries one. */
  lead_id: string | null;
  /** WeGroup's response body, truncated. */
  body: string | null;
}

/** One line of a lead's attempt log (stored as a BullMQ job log entry). */
export interface AttemptRecord {
  attempt: number;
  at: string;
  duration_ms: number;
  outcome: 'delivered' | 'transient' | 'permanent';
  status_code: number | null;
  error: string | null;
  /** WeGroup's response body, truncated. */
  body: string | null;
}
