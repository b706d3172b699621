import { Injectable } from '@nestjs/common';
import type { LeadStatus } from './lead-status';

/**
 * CONTRACT (issue 16): the lead search index, kept in Redis beside the queue (same hash tag),
 * written by LeadRepository with each change of a lead's state (in the same round trips where
 * it can), expiring with the lead's retention. Erasure removes every entry that could identify
 * a person (external ref, WeGroup lead id). Read by the ops console's Leads page.
 */

/** The statuses the index keeps (`delivering` is not indexed: a lead being delivered shows its previous status). */
export type IndexedStatus = Exclude<LeadStatus, 'delivering'>;

/** One lead as the index has it: what a row of the Leads page shows. */
export interface LeadIndexRow {
  id: string;
  status: IndexedStatus;
  source: string;
  /** The source's own id of the lead; null when it has none, or once erased. */
  external_ref: string | null;
  /** WeGroup's lead id once delivered; null before, and once erased. */
  wegroup_lead_id: string | null;
  received_at: string;
  updated_at: string;
  attempts: number;
  /** The last error in a few words (at most 160 characters), null when none. */
  last_error: string | null;
  /** Its personal data was erased (erasure request or retention). */
  erased: boolean;
}

/** A search: every given criterion must match; newest first. */
export interface LeadSearchQuery {
  id?: string;
  wegroupLeadId?: string;
  source?: string;
  status?: IndexedStatus;
  externalRef?: string;
  /** Received at or after / before (ms since the epoch). */
  receivedFrom?: number;
  receivedTo?: number;
  /** From the previous page's next_cursor; opaque. */
  cursor?: string;
  /** Rows per page (1..100). */
  limit: number;
}

export interface LeadSearchPage {
  rows: LeadIndexRow[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  next_cursor: string | null;
}

/** Failed leads with the same reason text, collapsed into one group. */
export interface FailureGroup {
  reason: string;
  count: number;
  newest_failed_at: string;
}

/** Thrown for a cursor that is not one this index gave out (the console answers 400 naming `cursor`). */
export class InvalidCursorError extends Error {
  constructor() {
    super('cursor is not one a previous page gave');
    this.name = 'InvalidCursorError';
  }
}

@Injectable()
export class LeadIndex {
  /** Leads matching the query, newest first, one page. Throws InvalidCursorError. */
  search(_query: LeadSearchQuery): Promise<LeadSearchPage> {
    throw new Error('LeadIndex.search: not built yet');
  }

  /** One lead's row, or null. */
  row(_id: string): Promise<LeadIndexRow | null> {
    throw new Error('LeadIndex.row: not built yet');
  }

  /** Failed leads grouped by their reason text, the largest groups first (at most `limit`). */
  failureGroups(_limit: number): Promise<FailureGroup[]> {
    throw new Error('LeadIndex.failureGroups: not built yet');
  }
}
