import { createHash } from 'node:crypto';
import type { ChainableCommander } from 'ioredis';
import { Keyring } from '@app/config';
import type { RedisClient } from '@app/queue';
import type { RetentionConfig } from './lead-jobs.settings';
import type { IndexedStatus } from './lead-index';

/** Every status the index keeps, in the order the console lists them. */
export const INDEXED_STATUSES: readonly IndexedStatus[] = ['queued', 'retrying', 'waiting_reauth', 'delivered', 'failed'];

/** A row's last error is cut to this many characters: a few words for a table cell, and a bounded meta hash. */
export const LAST_ERROR_MAX_CHARS = 160;

/** The meta hash's fields, in the order LeadIndex reads them (one HMGET). */
export const META_FIELDS = ['status', 'source', 'ref', 'wg', 'received', 'updated', 'attempts', 'error', 'erased'] as const;

const DAY_MS = 86_400_000;
/** What the external-ref keys are keyed for (HKDF info): these MACs say nothing about any other. */
const REF_PURPOSE = 'lead-index:external-ref';
/**
 * The sorted sets drop members received longer ago than the longest retention plus this: a
 * lead still alive then (a failed lead replayed again and again) leaves the lists but is
 * still found by its id, external ref or WeGroup lead id (direct lookups, not trimmed).
 */
const HORIZON_SLACK_MS = 30 * DAY_MS;

/** A lead as the index first hears of it (the intake, on enqueue). */
export interface NewIndexedLead {
  id: string;
  source: string;
  receivedAt: number;
  externalRef: string | null;
}

/** Who a state change is about: enough to rewrite its row whole (a lead indexed before the index existed gets one). */
export interface IndexedLeadKey {
  id: string;
  source: string;
  receivedAt: number;
}

/** A change of state; an omitted field keeps its value, `error: null` clears it. */
export interface IndexStatusChange {
  status: IndexedStatus;
  attempts?: number;
  error?: string | null;
  wegroupLeadId?: string | null;
}

/**
 * A counter bumped by the same script as the index change it goes with (HINCRBY, then
 * PEXPIREAT when `expireAt` is given): the 5-minute and per-source counters ride on the
 * change's one command instead of a pipeline of their own.
 */
export interface CounterIncrement {
  key: string;
  field: string;
  by: number;
  /** When the counter's hash expires (ms since the epoch); none: it never does. */
  expireAt?: number;
}

/** One call of an index script: its keys and arguments, sent in the caller's round trip (runIndexScript, queueIndexScript). */
export interface IndexScriptCall {
  script: IndexScriptName;
  keys: string[];
  args: Array<string | number>;
}

/** What erasure needs of the row as stored: the identifying entries to take out. */
export interface IdentifyingEntries {
  externalRef: string | null;
  wegroupLeadId: string | null;
}

/**
 * The lead index's keys and its writes, beside the leads queue under its hash tag (every key
 * comes from the queue's `toKey`, so one command's keys, and a whole MULTI's, share one
 * Cluster slot). A new lead and a change of status are each one script call (the counters of
 * the change ride on it), which the repository sends as one command (runIndexScript) and the
 * benchmark adds to its seeding pipelines (queueIndexScript); the rarer writes (erasure, a
 * mapped ref) join the caller's MULTI. LeadIndex reads them. Nothing here opens a connection,
 * which lets the benchmark seed through it.
 *
 * - `idx:lead:<id>`: the row (hash META_FIELDS), expiring with the lead's retention;
 * - sorted sets scored by the time received (ms), member = lead id: `idx:all`,
 *   `idx:source:<source>`, `idx:status:<status>`, `idx:source-status:<status>:<source>` (so
 *   "source + status" is one range read, no intersection), trimmed by score as they are written;
 * - `idx:ref:<mac>`: the leads with one external ref, the key a keyed MAC of the ref (key
 *   names are seen by anyone who can list keys; a ref can be an e-mail address);
 * - `idx:wegroup:<digest>`: WeGroup's lead id → our lead id.
 *
 * A member whose row has expired is skipped by readers and removed lazily; a member of a
 * status set whose row says another status is skipped too (a row is the truth).
 */
export class LeadIndexLayout {
  private readonly activeTtlMs: number;
  private readonly deliveredTtlMs: number;
  private readonly failedTtlMs: number;
  /** How far back (received) the sorted sets keep members. */
  readonly horizonMs: number;

  constructor(
    private readonly toKey: (name: string) => string,
    private readonly keyring: Keyring,
    retention: Pick<RetentionConfig, 'metadataDays' | 'failedDays'>,
  ) {
    this.deliveredTtlMs = retention.metadataDays * DAY_MS;
    this.failedTtlMs = retention.failedDays * DAY_MS;
    // Still on its way: as long as any finished lead is kept, renewed at each change.
    this.activeTtlMs = Math.max(this.deliveredTtlMs, this.failedTtlMs);
    this.horizonMs = this.activeTtlMs + HORIZON_SLACK_MS;
  }

  meta(id: string): string {
    return this.toKey(`idx:lead:${id}`);
  }

  all(): string {
    return this.toKey('idx:all');
  }

  bySource(source: string): string {
    return this.toKey(`idx:source:${source}`);
  }

  byStatus(status: IndexedStatus): string {
    return this.toKey(`idx:status:${status}`);
  }

  bySourceAndStatus(source: string, status: IndexedStatus): string {
    return this.toKey(`idx:source-status:${status}:${source}`);
  }

  /** The ref's set under each configured data key, current first (after a rotation, older refs are under an older key). */
  byExternalRef(ref: string): string[] {
    return this.keyring.purposeMacs(REF_PURPOSE, ref).map((mac) => this.toKey(`idx:ref:${mac.subarray(0, 16).toString('base64url')}`));
  }

  byWeGroupLeadId(wegroupLeadId: string): string {
    return this.toKey(`idx:wegroup:${createHash('sha256').update(wegroupLeadId).digest('base64url').slice(0, 32)}`);
  }

  /**
   * New leads, queued: their rows and every set they belong to, each set touched trimmed once,
   * and `counters` bumped. One script (ADD_QUEUED) for the whole bulk: a 500-lead bulk is one
   * command, not two thousand, which is what the intake's CPU would notice.
   */
  addQueuedCall(leads: NewIndexedLead[], now: number, counters: CounterIncrement[] = []): IndexScriptCall {
    const keys = [this.all(), this.byStatus('queued')];
    const args: Array<string | number> = [now, this.activeTtlMs, this.horizonMs, leads.length];
    for (const lead of leads) {
      const ref = lead.externalRef || '';
      // A lead without a ref names its row again where the ref's set would be (the script leaves it alone).
      keys.push(this.meta(lead.id), this.bySource(lead.source), this.bySourceAndStatus(lead.source, 'queued'), ref ? this.byExternalRef(ref)[0] : this.meta(lead.id));
      args.push(lead.id, lead.source, lead.receivedAt, ref);
    }
    addCounters(keys, args, counters);
    return { script: 'leadIndexAddQueued', keys, args };
  }

  /**
   * A lead changed state: its row, and its membership of the status sets (out of the sets of
   * the status its row had, read in the script: a row and its sets change together, in one
   * script), and `counters` bumped. One script (SET_STATUS): a delivery's outcome, counted,
   * is one command.
   */
  setStatusCall(lead: IndexedLeadKey, change: IndexStatusChange, now: number, counters: CounterIncrement[] = []): IndexScriptCall {
    const { status, attempts, error, wegroupLeadId } = change;
    const keys = [
      this.meta(lead.id),
      this.all(),
      this.bySource(lead.source),
      ...INDEXED_STATUSES.map((each) => this.byStatus(each)),
      ...INDEXED_STATUSES.map((each) => this.bySourceAndStatus(lead.source, each)),
      // Without a WeGroup lead id, the row again where its key would be (the script leaves it alone).
      wegroupLeadId ? this.byWeGroupLeadId(wegroupLeadId) : this.meta(lead.id),
    ];
    const args: Array<string | number> = [
      lead.id,
      status,
      INDEXED_STATUSES.indexOf(status) + 1,
      lead.source,
      lead.receivedAt,
      now,
      attempts ?? '',
      error === undefined ? 'keep' : error === null ? 'clear' : 'set',
      error ? error.slice(0, LAST_ERROR_MAX_CHARS) : '',
      status === 'delivered' ? this.deliveredTtlMs : status === 'failed' ? this.failedTtlMs : this.activeTtlMs,
      this.horizonMs,
      wegroupLeadId ?? '',
      this.deliveredTtlMs,
      ...INDEXED_STATUSES,
    ];
    addCounters(keys, args, counters);
    return { script: 'leadIndexSetStatus', keys, args };
  }

  /** A native lead was mapped: its external ref is the mapped lead's (the previous one, if another, is dropped). */
  setExternalRef(commands: ChainableCommander, id: string, receivedAt: number, previous: string | null, ref: string | null): void {
    if (previous && previous !== ref) for (const set of this.byExternalRef(previous)) commands.zrem(set, id);
    if (ref) {
      commands.hset(this.meta(id), { ref });
      this.addRef(commands, id, ref, receivedAt);
    } else {
      commands.hdel(this.meta(id), 'ref');
    }
  }

  /** The personal data of a finished lead was erased: the row stays, marked, without anything that identifies the prospect. */
  markErased(commands: ChainableCommander, id: string, stored: IdentifyingEntries): void {
    commands.hset(this.meta(id), { erased: 1 });
    commands.hdel(this.meta(id), 'ref', 'wg');
    this.dropIdentifying(commands, id, stored);
  }

  /** A queued lead was removed whole: it leaves every set. */
  remove(commands: ChainableCommander, lead: { id: string; source: string }, stored: IdentifyingEntries): void {
    commands.del(this.meta(lead.id));
    for (const set of [this.all(), this.bySource(lead.source)]) commands.zrem(set, lead.id);
    for (const status of INDEXED_STATUSES) {
      commands.zrem(this.byStatus(status), lead.id);
      commands.zrem(this.bySourceAndStatus(lead.source, status), lead.id);
    }
    this.dropIdentifying(commands, lead.id, stored);
  }

  private dropIdentifying(commands: ChainableCommander, id: string, { externalRef, wegroupLeadId }: IdentifyingEntries): void {
    if (externalRef) for (const set of this.byExternalRef(externalRef)) commands.zrem(set, id);
    // Only if it still points at this lead (a script: read and delete as one step).
    if (wegroupLeadId) queueIndexScript(commands, { script: 'leadIndexDeleteIfEqual', keys: [this.byWeGroupLeadId(wegroupLeadId)], args: [id] });
  }

  private addRef(commands: ChainableCommander, id: string, ref: string, receivedAt: number): void {
    const [current] = this.byExternalRef(ref);
    commands.zadd(current, receivedAt, id);
    commands.pexpire(current, this.activeTtlMs);
  }
}

/** Appends counters to a script call: one key each, and its field, increment and expiry ('' none) as arguments. */
function addCounters(keys: string[], args: Array<string | number>, counters: CounterIncrement[]): void {
  for (const { key, field, by, expireAt } of counters) {
    keys.push(key);
    args.push(field, by, expireAt ?? '');
  }
}

/**
 * The counters' part of every script that takes them (addCounters): from key k and argument a
 * on, one key per (field, increment, expiry) triple.
 */
const COUNT = `
local function count(k, a)
  while a <= #ARGV do
    redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
    if ARGV[a + 2] ~= '' then redis.call('PEXPIREAT', KEYS[k], ARGV[a + 2]) end
    k, a = k + 1, a + 3
  end
end
`;

/**
 * LeadIndexLayout.addQueuedCall. KEYS: all, the queued set, then per lead: row, source set,
 * source+queued set, ref set (or the row again: no ref), then the counters' keys. ARGV: now,
 * row TTL, horizon, the number of leads n, then per lead: id, source, received, ref ('' none),
 * then the counters (COUNT). The row first: a reader never finds a member without its row
 * (which it would take for expired).
 */
const ADD_QUEUED = `${COUNT}
local now, ttl, horizon, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local touched = {}
for i = 0, n - 1 do
  local k, a = 3 + 4 * i, 5 + 4 * i
  local id, source, received, ref = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  if ref ~= '' then
    redis.call('HSET', KEYS[k], 'status', 'queued', 'source', source, 'received', received, 'updated', now, 'attempts', 0, 'ref', ref)
    redis.call('ZADD', KEYS[k + 3], received, id)
    redis.call('PEXPIRE', KEYS[k + 3], ttl)
  else
    redis.call('HSET', KEYS[k], 'status', 'queued', 'source', source, 'received', received, 'updated', now, 'attempts', 0)
  end
  redis.call('PEXPIRE', KEYS[k], ttl)
  for _, set in ipairs({ KEYS[1], KEYS[2], KEYS[k + 1], KEYS[k + 2] }) do
    redis.call('ZADD', set, received, id)
    touched[set] = true
  end
end
local floor = '(' .. (tonumber(now) - horizon)
for set in pairs(touched) do
  redis.call('ZREMRANGEBYSCORE', set, '-inf', floor)
  redis.call('PEXPIRE', set, horizon)
end
count(3 + 4 * n, 5 + 4 * n)
return 1`;

/**
 * LeadIndexLayout.setStatusCall. KEYS: row, all, source, the 5 status sets, the 5 source+status
 * sets (INDEXED_STATUSES order), the WeGroup id key (the row again: none), then the counters'
 * keys. ARGV: id, status, its position (1..5), source, received, now, attempts ('' keeps),
 * error mode (keep, clear, set), error, row TTL, horizon, WeGroup lead id ('' none), its TTL,
 * the 5 status names, then the counters (COUNT). The lead leaves the two sets of the status
 * its row had (none when it had no row: a row that expired may leave its id in a set, which
 * searches skip, since every row found is checked against the query), and is in every set of
 * its new status again (idempotent for a lead indexed on enqueue, complete for one that was
 * not), trimmed by the horizon. Only the sets of the previous status are touched: a delivery
 * makes two ZREMs, not eight.
 */
const SET_STATUS = `${COUNT}
local id, at = ARGV[1], tonumber(ARGV[3])
local previous = redis.call('HGET', KEYS[1], 'status')
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'source', ARGV[4], 'received', ARGV[5], 'updated', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'attempts', ARGV[7]) end
if ARGV[8] == 'set' then redis.call('HSET', KEYS[1], 'error', ARGV[9]) elseif ARGV[8] == 'clear' then redis.call('HDEL', KEYS[1], 'error') end
if ARGV[12] ~= '' then
  redis.call('HSET', KEYS[1], 'wg', ARGV[12])
  redis.call('SET', KEYS[14], id, 'PX', ARGV[13])
end
redis.call('PEXPIRE', KEYS[1], ARGV[10])
for i = 1, 5 do
  if i ~= at and ARGV[13 + i] == previous then
    redis.call('ZREM', KEYS[3 + i], id)
    redis.call('ZREM', KEYS[8 + i], id)
  end
end
local floor = '(' .. (tonumber(ARGV[6]) - tonumber(ARGV[11]))
for _, set in ipairs({ KEYS[2], KEYS[3], KEYS[3 + at], KEYS[8 + at] }) do
  redis.call('ZADD', set, ARGV[5], id)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', floor)
  redis.call('PEXPIRE', set, ARGV[11])
end
count(15, 19)
return 1`;

const DELETE_IF_EQUAL = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

const SCRIPTS = { leadIndexAddQueued: ADD_QUEUED, leadIndexSetStatus: SET_STATUS, leadIndexDeleteIfEqual: DELETE_IF_EQUAL } as const;
export type IndexScriptName = keyof typeof SCRIPTS;

type ScriptMethods<R> = Record<IndexScriptName, (numberOfKeys: number, ...keysAndArgs: Array<string | number>) => R>;
const withScripts = new WeakSet<RedisClient>();

/**
 * Defines the index's scripts on a connection, once. ioredis then sends a script's text only
 * the first time on each socket (EVAL) and its SHA1 after that (EVALSHA), on the connection
 * and on the pipelines and MULTIs made from it afterwards: a change no longer carries the
 * script's kilobyte of Lua.
 */
export function defineIndexScripts(client: RedisClient): void {
  if (withScripts.has(client)) return;
  for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua });
  withScripts.add(client);
}

/** Sends one index script call as a command of its own: one round trip, atomic as every script is. */
export async function runIndexScript(client: RedisClient, { script, keys, args }: IndexScriptCall): Promise<void> {
  defineIndexScripts(client);
  await (client as unknown as ScriptMethods<Promise<unknown>>)[script](keys.length, ...keys, ...args);
}

/**
 * Adds one index script call to a pipeline or MULTI: by its SHA1 when the connection had the
 * scripts defined before the pipeline was made (defineIndexScripts), with its text otherwise.
 */
export function queueIndexScript(commands: ChainableCommander, { script, keys, args }: IndexScriptCall): void {
  const defined = (commands as unknown as Partial<ScriptMethods<unknown>>)[script];
  if (typeof defined === 'function') defined.call(commands, keys.length, ...keys, ...args);
  else commands.eval(SCRIPTS[script], keys.length, ...keys, ...args);
}
