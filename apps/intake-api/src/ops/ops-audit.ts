import { Injectable, Logger } from '@nestjs/common';
import { InvalidCursorError } from '@app/leads';
import { LeadsQueue } from '@app/queue';
import type { RedisClient } from '@app/queue';

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

/** Entries per page at most. */
export const MAX_AUDIT_PAGE = 100;
/** A lead's entries the per-lead list keeps (the newest): more actions than anyone reads on one lead. */
export const MAX_AUDIT_ENTRIES_PER_LEAD = 500;
/** Detail strings are cut to this: short facts, never a body. */
const MAX_DETAIL_CHARS = 120;
const MAX_DETAIL_FIELDS = 12;
const STREAM_ID = /^(\d{1,15})-(\d{1,15})$/;
const LEAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The audit log: a Redis stream beside the queue (same hash tag), `ops-audit`, each XADD
 * trimming what is older than a year (exact MINID: nothing older is ever read). The stream
 * id is the entry's id and time, so the newest-first list is one XREVRANGE from a cursor
 * (an id). Each entry about a lead is also listed under the lead (`ops-audit:lead:<id>`, its
 * newest MAX_AUDIT_ENTRIES_PER_LEAD ids, expiring a year after its last entry), by the same
 * script, so a lead's entries are read without scanning the log.
 *
 * No personal data: callers give the user's name, the action, the lead id and short facts
 * (counts, an outcome, a source or connection name); strings are cut short here and nothing
 * else is stored.
 */
@Injectable()
export class OpsAudit {
  constructor(private readonly queue: LeadsQueue) {}

  /** Stores one entry (and lists it under its lead) in one script, one round trip; throws when Redis did not take it. */
  async record(entry: OpsAuditInput, now = Date.now()): Promise<void> {
    const redis = await this.redis();
    const fields = ['user', entry.user.slice(0, 64), 'action', entry.action, 'detail', JSON.stringify(boundedDetail(entry.detail))];
    const keys = [this.queue.toKey('ops-audit')];
    if (entry.lead_id !== undefined) {
      fields.push('lead', entry.lead_id.slice(0, 128));
      keys.push(this.leadList(entry.lead_id));
    }
    await redis.eval(RECORD, keys.length, ...keys, String(now - OPS_AUDIT_RETENTION_MS), String(MAX_AUDIT_ENTRIES_PER_LEAD), String(OPS_AUDIT_RETENTION_MS), ...fields);
  }

  /** Newest first; `cursor` from the previous page. Throws InvalidCursorError for a cursor this log did not give. */
  async list(query: { cursor?: string; limit: number; lead_id?: string }): Promise<{ entries: OpsAuditEntry[]; next_cursor: string | null }> {
    const limit = Math.min(MAX_AUDIT_PAGE, Math.max(1, Math.floor(query.limit) || 1));
    // 0-0 is no entry's id (Redis starts at 0-1), and XREVRANGE refuses "(0-0" as an interval end: refused here, not as a Redis error.
    if (query.cursor !== undefined && (!STREAM_ID.test(query.cursor) || /^0+-0+$/.test(query.cursor))) throw new InvalidCursorError();
    const redis = await this.redis();
    const stream = this.queue.toKey('ops-audit');
    let entries: OpsAuditEntry[];
    let more: boolean;
    if (query.lead_id !== undefined) {
      if (!LEAD_ID.test(query.lead_id)) return { entries: [], next_cursor: null };
      const ids = (await redis.lrange(this.leadList(query.lead_id), 0, -1)).filter((id) => query.cursor === undefined || compareIds(id, query.cursor) < 0);
      const pipeline = redis.pipeline();
      // A year-old id may be gone from the stream already: read a few more than asked.
      for (const id of ids.slice(0, limit + 1)) pipeline.xrange(stream, id, id);
      const found = ((await pipeline.exec()) ?? []).flatMap(([error, rows]) => (error ? [] : (rows as StreamEntry[])));
      entries = found.map(entryOf);
      more = ids.length > limit;
    } else {
      const rows = (await redis.xrevrange(stream, query.cursor !== undefined ? `(${query.cursor}` : '+', '-', 'COUNT', limit + 1)) as StreamEntry[];
      entries = rows.map(entryOf);
      more = rows.length > limit;
    }
    const page = entries.slice(0, limit);
    return { entries: page, next_cursor: more && page.length ? page.at(-1)!.id : null };
  }

  private leadList(leadId: string): string {
    return this.queue.toKey(`ops-audit:lead:${leadId}`);
  }

  /** The connection for the app's own keys beside the queue (LeadsQueue.state). */
  private async redis(): Promise<RedisClient> {
    return await this.queue.state.get();
  }
}

/**
 * XADD trimming by MINID (the id is Redis's clock, so entries stay in order across intake
 * instances), then the id at the head of the lead's list, when there is a lead.
 * KEYS: stream [, lead list]; ARGV: min id, per-lead cap, list TTL (ms), field, value, …
 */
const RECORD = `
local id = redis.call('XADD', KEYS[1], 'MINID', ARGV[1], '*', unpack(ARGV, 4))
if KEYS[2] then
  redis.call('LPUSH', KEYS[2], id)
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return id`;

type StreamEntry = [id: string, fields: string[]];

function entryOf([id, fields]: StreamEntry): OpsAuditEntry {
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i], fields[i + 1]);
  let detail: OpsAuditEntry['detail'] = {};
  try {
    detail = JSON.parse(values.get('detail') ?? '{}') as OpsAuditEntry['detail'];
  } catch {
    // Written by record() only; an unreadable one shows as no detail.
  }
  return {
    id,
    at: new Date(Number(id.split('-')[0])).toISOString(),
    user: values.get('user') ?? '',
    action: (values.get('action') ?? '') as OpsAuditAction,
    lead_id: values.get('lead') ?? null,
    detail,
  };
}

/** Stream ids in order: milliseconds, then sequence. */
function compareIds(a: string, b: string): number {
  const [msA, seqA] = a.split('-').map(Number);
  const [msB, seqB] = b.split('-').map(Number);
  return msA - msB || seqA - seqB;
}

/** Short facts only: at most MAX_DETAIL_FIELDS, strings cut to MAX_DETAIL_CHARS. */
function boundedDetail(detail: OpsAuditInput['detail'] = {}): OpsAuditEntry['detail'] {
  const bounded: OpsAuditEntry['detail'] = {};
  for (const [key, value] of Object.entries(detail).slice(0, MAX_DETAIL_FIELDS)) {
    bounded[key.slice(0, 40)] = typeof value === 'string' ? value.slice(0, MAX_DETAIL_CHARS) : value;
  }
  return bounded;
}

/**
 * Writes an audit entry for an action that has happened. An entry that cannot be written is
 * logged, not thrown: the action is done, and an error would have ops repeat it.
 */
export async function auditAction(audit: OpsAudit, logger: Logger, entry: OpsAuditInput): Promise<void> {
  try {
    await audit.record(entry);
  } catch (error) {
    logger.warn(`Audit entry ${entry.action} by ${entry.user}${entry.lead_id ? ` for lead ${entry.lead_id}` : ''} not written: ${(error as Error)?.message ?? 'error'}`);
  }
}
