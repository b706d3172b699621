import type { IncomingHttpHeaders } from 'node:http';

/** One request to the lead endpoint, as the control API shows it. */
export interface RecordedRequest {
  /** Arrival number, starting at 1, never reused (not even after a DELETE). */
  seq: number;
  received_at: string;
  method: string;
  /** The request target as received (path and query string). */
  path: string;
  distribution_id: string;
  /** Header names lower-cased (as Node.js gives them), values as received. */
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, the raw text when it is not JSON, or null without a body (or when it was refused before being read). */
  body: unknown;
  /** pending: not answered yet; answered: `status` was sent; reset: the connection was destroyed by a fault. */
  outcome: 'pending' | 'answered' | 'reset';
  status: number | null;
  answered_at: string | null;
  /** The fault rule that produced the answer, if any. */
  fault_id: string | null;
  /** Set on 201. */
  lead_id: string | null;
}

export interface CreatedLead {
  id: string;
  distribution_id: string;
  body: unknown;
  created_at: string;
}

export type FaultMode = 'respond' | 'reset';

export interface FaultRule {
  id: string;
  mode: FaultMode;
  /** null in reset mode. */
  status: number | null;
  /** How many matching requests the rule answers in total. */
  count: number;
  /** How many of those are left. */
  remaining: number;
  /** null: use the global delay at answer time. */
  delay_ms: number | null;
  headers: Record<string, string>;
  /** undefined: `{"detail": "Injected fault <status>"}`; null: empty body. */
  body?: unknown;
  /** null: matches every distribution. */
  distribution_id: string | null;
  created_at: string;
}

export type NewFaultRule = Omit<FaultRule, 'id' | 'remaining' | 'created_at'>;
