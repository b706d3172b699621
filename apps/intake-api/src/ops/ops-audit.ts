import { Injectable } from '@nestjs/common';

/**
 * CONTRACT (issue 16): the ops audit log, in Redis beside the queue (same hash tag), kept one
 * year, never holding personal data: who did what, when, to which lead. Every ops action (API,
 * console, dashboard) and every personal-data view writes one entry.
 */

export const OPS_AUDIT_RETENTION_MS = 365 * 86_400_000;

export type OpsAuditAction =
  | 'sign_in'
  | 'sign_in_failed'
  | 'sign_out'
  | 'personal_data_viewed'
  | 'lead_retried'
  | 'leads_bulk_retried'
  | 'lead_erased'
  | 'event_retried'
  | 'events_bulk_retried'
  | 'sso_connect_started'
  | 'sso_connected'
  | 'sso_disconnected'
  | 'mapping_previewed';

export interface OpsAuditInput {
  /** The ops user's name ('' when unknown, e.g. a failed sign-in: never the name typed). */
  user: string;
  action: OpsAuditAction;
  lead_id?: string;
  /** Short, personal-data-free facts: counts, an outcome, a connection or source name. */
  detail?: Record<string, string | number | boolean | null>;
}

export interface OpsAuditEntry extends Required<Omit<OpsAuditInput, 'detail' | 'lead_id'>> {
  id: string;
  at: string;
  lead_id: string | null;
  detail: Record<string, string | number | boolean | null>;
}

@Injectable()
export class OpsAudit {
  record(_entry: OpsAuditInput): Promise<void> {
    throw new Error('OpsAudit.record: not built yet');
  }

  /** Newest first; `cursor` from the previous page. */
  list(_query: { cursor?: string; limit: number; lead_id?: string }): Promise<{ entries: OpsAuditEntry[]; next_cursor: string | null }> {
    throw new Error('OpsAudit.list: not built yet');
  }
}
