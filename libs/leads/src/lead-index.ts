import { Inject, Injectable, Logger } from '@nestjs/common';
import { Keyring } from '@app/config';
import { LeadsQueue } from '@app/queue';
import type { RedisClient } from '@app/queue';
import { dataKeyringConfig } from './data-keyring.config';
import { INDEXED_STATUSES, LeadIndexLayout, META_FIELDS } from './lead-index.layout';
import { RetentionConfig, retentionConfig } from './lead-jobs.config';
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

/** Rows per page at most (LeadSearchQuery.limit). */
export const MAX_SEARCH_LIMIT = 100;
/**
 * Sorted-set members one page looks at, at most: a page whose criteria few members meet (stale
 * members of a status set, rows expired since) stops there and still gives a cursor, so a
 * search never walks a whole set. With the set chosen by the criteria, nearly every member
 * examined is a row returned.
 */
export const MAX_EXAMINED_PER_PAGE = 2_000;
/** Leads with one external ref read at most (the same ref from several sources, or reposted after the idempotency window). */
export const MAX_LEADS_PER_REF = 1_000;
/**
 * failureGroups reads the rows of this many failed leads at most, the most recently received:
 * one range read and one pipelined read of their rows. Older failures beyond it are not
 * counted (a backlog that large is one incident, and its newest rows say which).
 */
export const FAILURE_GROUPS_SCAN = 5_000;

/** Where a page ended: the last row's score (received, ms) and id; the next page is strictly after it. */
interface Cursor {
  score: number;
  id: string;
}

/** A stored row, or null when the lead has none (never indexed, expired, removed). */
type Row = LeadIndexRow;

/**
 * The lead index's reads (LeadIndexLayout has the keys and the writes). Every search is a
 * direct lookup (id, WeGroup lead id, external ref) or one range read of the sorted set the
 * criteria name, then one pipelined read of the rows found; the rows are checked against
 * every criterion, so a member left in a set by a concurrent change is never shown under the
 * wrong status. Order: newest received first, equal times by id, which the cursor carries.
 */
@Injectable()
export class LeadIndex {
  private readonly logger = new Logger(LeadIndex.name);
  readonly layout: LeadIndexLayout;

  constructor(
    private readonly queue: LeadsQueue,
    @Inject(dataKeyringConfig.KEY) keyring: Keyring,
    @Inject(retentionConfig.KEY) retention: RetentionConfig,
  ) {
    this.layout = new LeadIndexLayout((name) => queue.toKey(name), keyring, retention);
  }

  /** Leads matching the query, newest first, one page. Throws InvalidCursorError. */
  async search(query: LeadSearchQuery): Promise<LeadSearchPage> {
    const limit = Math.min(MAX_SEARCH_LIMIT, Math.max(1, Math.floor(query.limit) || 1));
    const cursor = query.cursor !== undefined ? decodeCursor(query.cursor) : null;
    const matches = (row: Row) => matchesQuery(row, query) && (!cursor || isAfter(Date.parse(row.received_at), row.id, cursor));
    if (query.id !== undefined || query.wegroupLeadId !== undefined) {
      const id = query.id ?? (await (await this.redis()).get(this.layout.byWeGroupLeadId(query.wegroupLeadId!)));
      const row = id ? await this.row(id) : null;
      return { rows: row && matches(row) ? [row] : [], next_cursor: null };
    }
    if (query.externalRef !== undefined) return this.searchByRef(query.externalRef, matches, limit);
    const { source, status } = query;
    const set =
      source !== undefined && status !== undefined
        ? this.layout.bySourceAndStatus(source, status)
        : source !== undefined
          ? this.layout.bySource(source)
          : status !== undefined
            ? this.layout.byStatus(status)
            : this.layout.all();
    return this.scan(set, query, cursor, limit, matches);
  }

  /** One lead's row, or null. */
  async row(id: string): Promise<LeadIndexRow | null> {
    const [row] = await this.rows([id]);
    return row;
  }

  /** Failed leads grouped by their reason text, the largest groups first (at most `limit`); over the newest FAILURE_GROUPS_SCAN failed leads. */
  async failureGroups(limit: number): Promise<FailureGroup[]> {
    const redis = await this.redis();
    const ids = await redis.zrevrange(this.layout.byStatus('failed'), 0, FAILURE_GROUPS_SCAN - 1);
    const groups = new Map<string, FailureGroup>();
    for (const row of await this.rows(ids)) {
      // An erased lead has nothing left to deliver: it is no retry candidate.
      if (row?.status !== 'failed' || row.erased) continue;
      const reason = row.last_error ?? '(no reason recorded)';
      const group = groups.get(reason) ?? { reason, count: 0, newest_failed_at: row.updated_at };
      group.count++;
      if (row.updated_at > group.newest_failed_at) group.newest_failed_at = row.updated_at;
      groups.set(reason, group);
    }
    return [...groups.values()].sort((a, b) => b.count - a.count || b.newest_failed_at.localeCompare(a.newest_failed_at)).slice(0, Math.max(0, limit));
  }

  /**
   * The ids of failed leads whose last error is exactly `reason` (a failure group), newest
   * received first, at most `limit`; over the same newest FAILURE_GROUPS_SCAN failed leads as
   * failureGroups, so a group's retry takes the leads its count was made of.
   */
  async failedWithReason(reason: string, limit: number): Promise<string[]> {
    const redis = await this.redis();
    const ids = await redis.zrevrange(this.layout.byStatus('failed'), 0, FAILURE_GROUPS_SCAN - 1);
    const rows = await this.rows(ids);
    return rows
      .filter((row): row is Row => row?.status === 'failed' && !row.erased && (row.last_error ?? '(no reason recorded)') === reason)
      .slice(0, Math.max(0, limit))
      .map((row) => row.id);
  }

  /**
   * When the oldest lead still on its way (queued, retrying or waiting for a sign-in) was
   * received, or null when none is: the Overview's "oldest waiting lead". A few members of
   * each set are read, in case the oldest has just moved on.
   */
  async oldestWaiting(): Promise<string | null> {
    const redis = await this.redis();
    const pipeline = redis.pipeline();
    const waiting = ['queued', 'retrying', 'waiting_reauth'] as const;
    for (const status of waiting) pipeline.zrange(this.layout.byStatus(status), '0', '9');
    const answers = (await pipeline.exec()) ?? [];
    const candidates = answers.flatMap(([error, ids]) => (error ? [] : (ids as string[])));
    const rows = (await this.rows(candidates)).filter((row): row is Row => row !== null && (waiting as readonly string[]).includes(row.status));
    return rows.reduce<string | null>((oldest, row) => (oldest === null || row.received_at < oldest ? row.received_at : oldest), null);
  }

  /** The rows of these leads, in order (null where there is none), in one round trip. */
  async rows(ids: string[]): Promise<Array<Row | null>> {
    if (ids.length === 0) return [];
    const redis = await this.redis();
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hmget(this.layout.meta(id), ...META_FIELDS);
    const results = (await pipeline.exec()) ?? [];
    return ids.map((id, index) => {
      const [error, values] = results[index] ?? [new Error('no answer')];
      if (error) throw error;
      return rowOf(id, values as Array<string | null>);
    });
  }

  /** A ref's leads are few: read whole (under each data key), filtered and paged here. */
  private async searchByRef(ref: string, matches: (row: Row) => boolean, limit: number): Promise<LeadSearchPage> {
    const redis = await this.redis();
    const pipeline = redis.pipeline();
    const sets = this.layout.byExternalRef(ref);
    for (const set of sets) pipeline.zrevrange(set, 0, MAX_LEADS_PER_REF - 1);
    const ids = [...new Set(((await pipeline.exec()) ?? []).flatMap(([error, members]) => (error ? [] : (members as string[]))))];
    const rows = (await this.rows(ids)).filter((row): row is Row => row !== null && matches(row));
    rows.sort((a, b) => compareNewestFirst(Date.parse(a.received_at), a.id, Date.parse(b.received_at), b.id));
    const page = rows.slice(0, limit);
    return { rows: page, next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!) : null };
  }

  /**
   * One page of a sorted set, newest first, after the cursor: range reads of `limit + 1`
   * members (so a last page says so), their rows read in one pipeline; members without a row
   * are removed lazily; at most MAX_EXAMINED_PER_PAGE members are examined.
   */
  private async scan(set: string, query: LeadSearchQuery, cursor: Cursor | null, limit: number, matches: (row: Row) => boolean): Promise<LeadSearchPage> {
    const redis = await this.redis();
    const to = query.receivedTo ?? Infinity;
    // The cursor's own score is included: members with that score and a smaller id come after it.
    const max = cursor && cursor.score < to ? String(cursor.score) : Number.isFinite(to) ? `(${to}` : '+inf';
    const min = query.receivedFrom !== undefined ? String(query.receivedFrom) : '-inf';
    const rows: Row[] = [];
    const orphans: string[] = [];
    let offset = 0;
    let last: Cursor | null = null;
    while (offset < MAX_EXAMINED_PER_PAGE) {
      const batch = Math.min(limit + 1 + (cursor ? 16 : 0), MAX_EXAMINED_PER_PAGE - offset);
      const flat = await redis.zrevrangebyscore(set, max, min, 'WITHSCORES', 'LIMIT', offset, batch);
      const members: Cursor[] = [];
      for (let i = 0; i < flat.length; i += 2) members.push({ id: flat[i], score: Number(flat[i + 1]) });
      offset += members.length;
      const candidates = cursor ? members.filter((member) => isAfter(member.score, member.id, cursor)) : members;
      const found = await this.rows(candidates.map((member) => member.id));
      for (const [index, row] of found.entries()) {
        last = candidates[index];
        if (row === null) orphans.push(candidates[index].id);
        else if (matches(row)) rows.push(row);
        if (rows.length > limit) break;
      }
      if (rows.length > limit || members.length < batch) break;
    }
    if (orphans.length) this.removeOrphans(set, orphans);
    if (rows.length > limit) return { rows: rows.slice(0, limit), next_cursor: encodeCursor(rows[limit - 1]) };
    // Stopped at the bound with members left: the next page goes on after the last one examined.
    const more = offset >= MAX_EXAMINED_PER_PAGE && last !== null;
    return { rows, next_cursor: more ? encodeCursorOf(last!) : null };
  }

  /** Members whose row has expired leave the set they were found in (only if the row is still missing: never a lead being written). */
  private removeOrphans(set: string, ids: string[]): void {
    void this.redis()
      .then((redis) => {
        const pipeline = redis.pipeline();
        for (const id of ids) pipeline.eval(REMOVE_IF_NO_ROW, 2, this.layout.meta(id), set, id);
        return pipeline.exec();
      })
      .catch((error: Error) => this.logger.warn(`Expired index entries not removed: ${error.message}`));
  }

  /** The connection for the app's own keys beside the queue (LeadsQueue.state). */
  private async redis(): Promise<RedisClient> {
    return await this.queue.state.get();
  }
}

const REMOVE_IF_NO_ROW = "if redis.call('exists', KEYS[1]) == 0 then return redis.call('zrem', KEYS[2], ARGV[1]) end return 0";

function rowOf(id: string, values: Array<string | null>): Row | null {
  const [status, source, ref, wg, received, updated, attempts, error, erased] = values;
  if (status === null || !(INDEXED_STATUSES as readonly string[]).includes(status) || source === null || received === null) return null;
  return {
    id,
    status: status as IndexedStatus,
    source,
    external_ref: ref,
    wegroup_lead_id: wg,
    received_at: new Date(Number(received)).toISOString(),
    updated_at: new Date(Number(updated ?? received)).toISOString(),
    attempts: Number(attempts ?? 0),
    last_error: error,
    erased: erased === '1',
  };
}

function matchesQuery(row: Row, query: LeadSearchQuery): boolean {
  const received = Date.parse(row.received_at);
  return (
    (query.id === undefined || row.id === query.id) &&
    (query.wegroupLeadId === undefined || row.wegroup_lead_id === query.wegroupLeadId) &&
    (query.externalRef === undefined || row.external_ref === query.externalRef) &&
    (query.source === undefined || row.source === query.source) &&
    (query.status === undefined || row.status === query.status) &&
    (query.receivedFrom === undefined || received >= query.receivedFrom) &&
    (query.receivedTo === undefined || received < query.receivedTo)
  );
}

/** Newest first; equal times by id, descending (Redis's order for equal scores, reversed). */
function compareNewestFirst(scoreA: number, idA: string, scoreB: number, idB: string): number {
  return scoreB - scoreA || (idA < idB ? 1 : idA > idB ? -1 : 0);
}

function isAfter(score: number, id: string, cursor: Cursor): boolean {
  return compareNewestFirst(cursor.score, cursor.id, score, id) < 0;
}

const CURSOR = /^(\d{1,15}):([A-Za-z0-9_-]{1,128})$/;

function encodeCursor(row: Row): string {
  return encodeCursorOf({ score: Date.parse(row.received_at), id: row.id });
}

function encodeCursorOf({ score, id }: Cursor): string {
  return Buffer.from(`${score}:${id}`).toString('base64url');
}

function decodeCursor(cursor: string): Cursor {
  const match = cursor.length <= 256 && /^[A-Za-z0-9_-]+$/.test(cursor) ? CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  if (!match) throw new InvalidCursorError();
  return { score: Number(match[1]), id: match[2] };
}
