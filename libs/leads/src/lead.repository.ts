import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { JobsOptions, JobState, JobType } from 'bullmq';
import { Keyring } from '@app/config';
import { DELIVER_LEAD_JOB, DeliverLeadJobData, DeliveryResult, LeadJob, LeadsQueue, replayAll } from '@app/queue';
import type { RedisClient } from '@app/queue';
import type { ChainableCommander } from 'ioredis';
import { dataKeyringConfig } from './data-keyring.config';
import { deliveryJobOptions } from './delivery-policy';
import { RetentionConfig, retentionConfig, RetryConfig, retryConfig } from './lead-jobs.config';
import { AttemptRecord, HeldRecord, LeadBody, LeadLogEntry, ReplayRecord } from './lead-job';
import { CounterIncrement, defineIndexScripts, IndexStatusChange, LeadIndexLayout, runIndexScript } from './lead-index.layout';
import { LeadStatsLayout } from './lead-stats';
import { openLogLine, scrubEntry, sealLead, sealLogEntry } from './lead-sealing';

/** The hash (beside the queue's keys, same hash tag) of each source's lead counters. */
const SOURCE_COUNTS_KEY = 'source-counts';

/** Jobs read per round trip when paging through a state. */
const PAGE = 500;

/** Beside each lead (same hash tag): the sealed WeGroup callbacks, and how many came in all. */
const CALLBACKS_KEY = 'lead-callbacks:';
const CALLBACK_COUNT_KEY = 'lead-callbacks-count:';

/** Callbacks kept per lead: the latest. */
export const MAX_CALLBACKS_PER_LEAD = 50;
/** Largest callback body stored (the route refuses larger ones before reading them). */
export const MAX_CALLBACK_BODY_BYTES = 64 * 1024;

/** One callback WeGroup posted about a lead, as stored (sealed: it may carry personal data) and read back. */
export interface CallbackRecord {
  received_at: string;
  /** The Content-Type it came with, or null. */
  content_type: string | null;
  /** The body as received, as text: WeGroup does not publish its shape, so it is kept whole. */
  body: string;
}

export type RecordCallbackOutcome =
  /** Stored; `index` counts this lead's callbacks from 1 (the older ones beyond the cap are gone, not their numbers). */
  | { outcome: 'recorded'; index: number }
  /** No such lead, or its personal data was erased (erasure, retention): nothing stored. */
  | { outcome: 'ignored'; reason: 'unknown' | 'erased' };

/** A callback body over MAX_CALLBACK_BODY_BYTES. */
export class CallbackTooLargeError extends Error {
  constructor(bytes: number) {
    super(`The callback body is ${bytes} bytes; at most ${MAX_CALLBACK_BODY_BYTES} are stored`);
    this.name = 'CallbackTooLargeError';
  }
}

/** A lead to store: its payload, and the deduplication id that makes a repeat of it a replay. */
export interface NewLead {
  data: DeliverLeadJobData;
  deduplicationId?: string;
  /** How long the deduplication id holds (default IDEMPOTENCY_TTL_SECONDS); native events outlive their platform's retries. */
  deduplicationTtlMs?: number;
  /** The source's own id of the lead (`prospect.external_ref.external_ref`), for the index; a native lead's is known once mapped. */
  externalRef?: string | null;
}

/** What one delivery attempt came to, as the index, the counters and the stats record it (recordOutcome). */
export type DeliveryOutcome =
  | { status: 'delivered'; attempts: number; wegroupLeadId: string | null }
  | { status: 'failed' | 'retrying'; attempts: number; reason: string };

/** Leads a source has had accepted and failed, since the counters began. */
export interface SourceCounts {
  accepted: number;
  delivered: number;
  failed: number;
}

/** A lead's record as stored: its job's state and payload, and its opened attempt log. */
export interface LeadRecord {
  id: string;
  state: JobState | 'unknown';
  data: DeliverLeadJobData;
  attemptsMade: number;
  /** When the lead was stored, picked up last, and finished (ms since the epoch). */
  storedAt: number;
  processedAt: number | null;
  finishedAt: number | null;
  failedReason: string | null;
  result: DeliveryResult | null;
  log: LeadLogEntry[];
  /** WeGroup's callbacks about the lead, opened, oldest first. */
  callbacks: CallbackRecord[];
}

/** Which failed leads a bulk retry takes: failed in [failedAfter, failedBefore), with `reason` in their failure. */
export interface FailedLeadFilter {
  failedAfter?: number;
  failedBefore?: number;
  /** Case-insensitive; matched against the failure reason and WeGroup's own words (sealed log). */
  reason?: string;
  limit: number;
}

/** `erased`: failed, but its personal data is gone, so a new attempt could only fail again. */
export type RetryOutcome = 'retried' | 'not_found' | 'delivered' | 'not_finished' | 'requeued_meanwhile' | 'erased';

export type EraseOutcome =
  | { outcome: 'not_found' }
  /** Being delivered right now: nothing changed. */
  | { outcome: 'busy' }
  /** Finished: the personal data is gone (`had`: there was some), the metadata stays. */
  | { outcome: 'scrubbed'; had: boolean }
  /** Still queued: cancelled and removed whole. */
  | { outcome: 'removed' }
  /** Was queued, but a worker took it before it could be removed: nothing removed. */
  | { outcome: 'picked_up' };

/** Wraps each Redis read of a long walk (the intake gives each its own answer timeout). */
export type ReadGuard = <T>(read: Promise<T>) => Promise<T>;

/**
 * The one owner of a lead's record: its BullMQ job (state, payload, attempt log). Every
 * change of a lead's state goes through a method here, so whatever must follow each change
 * (an index, counters, an event back to the CRM) has one place to go. Services map HTTP and
 * schedules onto these methods and never hold a Job or the Queue themselves.
 *
 * Stored data stays as it was: job name, job id (= lead id), payload fields, log lines
 * (attempt and held entries sealed; replayed and scrubbed entries plain JSON).
 *
 * What follows each change: the lead index (LeadIndexLayout: the Leads page's search), the
 * 5-minute counters (LeadStatsLayout: the Overview) and the per-source counters, written by
 * one index script per change (the counters ride on it), right after the change. They are
 * best effort: a write that fails is logged (no personal data) and never fails the delivery,
 * refuses an accepted lead or undoes an ops action; the job stays the truth (GET
 * /v1/leads/{id}).
 */
@Injectable()
export class LeadRepository {
  private readonly logger = new Logger(LeadRepository.name);
  private readonly retention: RetentionConfig;
  private readonly jobOptions: JobsOptions | null;
  private readonly index: LeadIndexLayout;
  private readonly stats: LeadStatsLayout;

  constructor(
    private readonly queue: LeadsQueue,
    @Inject(dataKeyringConfig.KEY) private readonly keyring: Keyring,
    @Inject(retentionConfig.KEY) retention: RetentionConfig,
    // Only where leads are enqueued: the worker never enqueues and has no retry namespace of its own.
    @Optional() @Inject(retryConfig.KEY) retry: RetryConfig | null = null,
  ) {
    this.retention = retention;
    this.jobOptions = retry ? deliveryJobOptions(retry, retention) : null;
    this.index = new LeadIndexLayout((name) => queue.toKey(name), keyring, retention);
    this.stats = new LeadStatsLayout((name) => queue.toKey(name));
  }

  /**
   * Leads each source has had accepted, delivered and failed (monotonic counters kept beside
   * the queue, under its hash tag), by source name.
   */
  async sourceCounts(): Promise<Map<string, SourceCounts>> {
    const client = await this.redis();
    const fields = await client.hgetall(this.queue.toKey(SOURCE_COUNTS_KEY));
    const counts = new Map<string, SourceCounts>();
    for (const [field, value] of Object.entries(fields)) {
      const cut = field.lastIndexOf(':');
      const source = field.slice(0, cut);
      const what = field.slice(cut + 1) as keyof SourceCounts;
      const entry = counts.get(source) ?? { accepted: 0, delivered: 0, failed: 0 };
      if (what in entry) entry[what] = Number(value) || 0;
      counts.set(source, entry);
    }
    return counts;
  }

  /**
   * What a delivery attempt came to (the worker, once per attempt that ends in one of these),
   * in one command (an index script, by its SHA1): a delivered or failed lead's per-source
   * counter and 5-minute counters (a delivered one's latency, received → now, too), and the
   * lead's index row (status, attempts, last error, WeGroup's lead id). Throws when Redis did
   * not take it: the caller logs and carries on.
   */
  async recordOutcome(data: DeliverLeadJobData, outcome: DeliveryOutcome, now = Date.now()): Promise<void> {
    const receivedAt = Date.parse(data.received_at);
    const counters =
      outcome.status === 'retrying'
        ? []
        : [
            this.sourceCounter(data.source, outcome.status, 1),
            ...this.stats.outcomeCounters(data.source, outcome.status, now, outcome.status === 'delivered' && receivedAt <= now ? now - receivedAt : null),
          ];
    const change: IndexStatusChange =
      outcome.status === 'delivered'
        ? { status: 'delivered', attempts: outcome.attempts, error: null, wegroupLeadId: outcome.wegroupLeadId }
        : { status: outcome.status, attempts: outcome.attempts, error: outcome.reason };
    await runIndexScript(await this.redis(), this.index.setStatusCall({ id: data.lead_id, source: data.source, receivedAt: receivedAt || now }, change, now, counters));
  }

  /** A source's monotonic counter (sourceCounts) of leads accepted, delivered or failed. */
  private sourceCounter(source: string, what: keyof SourceCounts, by: number): CounterIncrement {
    return { key: this.queue.toKey(SOURCE_COUNTS_KEY), field: `${source}:${what}`, by };
  }

  /** Stores one lead; the id of the job kept (see enqueueMany). */
  async enqueue(lead: NewLead): Promise<string> {
    const [id] = await this.enqueueMany([lead]);
    return id;
  }

  /**
   * Stores these leads in one addBulk (one round trip). For each, the id of the job BullMQ
   * kept: the lead's own id when it was stored, the earlier lead's when its deduplication id
   * matched one (an idempotent replay or a conflict: the caller compares the payloads).
   * Deduplication runs inside the add script, so concurrent repeats still make one job.
   */
  async enqueueMany(leads: NewLead[]): Promise<string[]> {
    if (!this.jobOptions) throw new Error('LeadRepository: no retry settings in this process, so it cannot enqueue leads');
    const idempotencyTtlMs = this.retention.idempotencyTtlSeconds * 1000;
    const jobs = await this.queue.addBulk(
      leads.map(({ data, deduplicationId, deduplicationTtlMs }) => ({
        name: DELIVER_LEAD_JOB,
        data,
        opts: {
          ...this.jobOptions,
          jobId: data.lead_id,
          ...(deduplicationId ? { deduplication: { id: deduplicationId, ttl: deduplicationTtlMs ?? idempotencyTtlMs } } : {}),
        },
      })),
    );
    const stored = jobs.map((job) => job.id!);
    // The leads are stored: a counter or index entry that could not be written must not make them look refused.
    await this.recordAccepted(leads, stored).catch((error: Error) => this.logger.warn(`Source counters and lead index not updated for ${leads.length} lead(s): ${error.message}`));
    return stored;
  }

  /**
   * The new leads of a bulk (not the replays), in one command (an index script): counted per
   * source (since the counters began, and in the current 5-minute bucket) and indexed as queued.
   */
  private async recordAccepted(leads: NewLead[], stored: string[], now = Date.now()): Promise<void> {
    const added = leads.filter(({ data }, index) => stored[index] === data.lead_id);
    if (added.length === 0) return;
    const perSource = new Map<string, number>();
    for (const { data } of added) perSource.set(data.source, (perSource.get(data.source) ?? 0) + 1);
    const counters = [...perSource].flatMap(([source, count]) => [this.sourceCounter(source, 'accepted', count), ...this.stats.acceptedCounters(source, count, now)]);
    const indexed = added.map(({ data, externalRef }) => ({ id: data.lead_id, source: data.source, receivedAt: Date.parse(data.received_at) || now, externalRef: externalRef ?? null }));
    await runIndexScript(await this.redis(), this.index.addQueuedCall(indexed, now, counters));
  }

  /** The lead's record with its attempt log opened, or null when there is no such lead. */
  async find(id: string): Promise<LeadRecord | null> {
    // State first: once it says finished, the job record read next is final too.
    const state = await this.queue.getJobState(id);
    if (state === 'unknown') return null;
    const [job, { logs }, callbacks] = await Promise.all([this.queue.getJob(id), this.queue.getJobLogs(id), this.callbacksOf(id)]);
    if (!job?.data) return null;
    return {
      id,
      state,
      data: job.data,
      attemptsMade: job.attemptsMade,
      storedAt: job.timestamp,
      processedAt: job.processedOn ?? null,
      finishedAt: job.finishedOn ?? null,
      failedReason: job.failedReason || null,
      result: job.returnvalue ?? null,
      log: this.openLog(logs),
      callbacks,
    };
  }

  /**
   * Stores a callback WeGroup posted about this lead, sealed, beside it: the latest
   * MAX_CALLBACKS_PER_LEAD are kept, for as long as a finished lead keeps its personal data at
   * most (erasure and retention remove them with it). A lead that is unknown, or whose personal
   * data was erased, takes none. Throws CallbackTooLargeError over MAX_CALLBACK_BODY_BYTES.
   */
  async recordCallback(leadId: string, callback: CallbackRecord): Promise<RecordCallbackOutcome> {
    const bytes = Buffer.byteLength(callback.body, 'utf8');
    if (bytes > MAX_CALLBACK_BODY_BYTES) throw new CallbackTooLargeError(bytes);
    const before = await this.queue.getJob(leadId);
    if (!before?.data) return { outcome: 'ignored', reason: 'unknown' };
    if (isErased(before.data)) return { outcome: 'ignored', reason: 'erased' };
    const list = this.queue.toKey(CALLBACKS_KEY + leadId);
    const count = this.queue.toKey(CALLBACK_COUNT_KEY + leadId);
    const ttlMs = Math.max(this.retention.deliveredDays, this.retention.failedDays) * 86_400_000;
    const client = await this.redis();
    const results = await client
      .multi()
      .rpush(list, this.keyring.seal(JSON.stringify(callback)))
      .ltrim(list, -MAX_CALLBACKS_PER_LEAD, -1)
      .pexpire(list, ttlMs)
      .incr(count)
      .pexpire(count, ttlMs)
      .exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw failed?.[0] ?? new Error('The callback was not stored (transaction aborted)');
    // An erasure that ran meanwhile deleted the list before this write: the callback goes too.
    const after = await this.queue.getJob(leadId);
    if (!after?.data || isErased(after.data)) {
      await this.deleteCallbacks(leadId);
      return { outcome: 'ignored', reason: after?.data ? 'erased' : 'unknown' };
    }
    return { outcome: 'recorded', index: Number(results[3][1]) };
  }

  /** Only the lead's payload (no log), or null. */
  async findData(id: string): Promise<DeliverLeadJobData | null> {
    return (await this.queue.getJob(id))?.data ?? null;
  }

  /** How many leads are in each of these job states. */
  counts(...states: JobType[]): Promise<Record<string, number>> {
    return this.queue.getJobCounts(...states);
  }

  /** How long every delivery is still paused (a 429 or an open circuit), 0 if none. */
  async pausedForMs(): Promise<number> {
    return Math.max(0, await this.queue.getRateLimitTtl(Number.MAX_SAFE_INTEGER));
  }

  /** Re-queues one failed lead with a fresh retry schedule; its history stays. */
  async retry(id: string, by: string): Promise<RetryOutcome> {
    const job = await this.queue.getJob(id);
    if (!job) return 'not_found';
    const state = await job.getState();
    if (state !== 'failed') return state === 'completed' ? 'delivered' : 'not_finished';
    if (job.data && isErased(job.data)) return 'erased';
    try {
      await this.replay(job, by);
    } catch (error) {
      // Another retry won the race: the job is no longer in the failed set.
      if ((await job.getState()) !== 'failed') return 'requeued_meanwhile';
      throw error;
    }
    return 'retried';
  }

  /** Re-queues the failed leads the filter matches, newest first, at most `limit`; how many matched and how many went. */
  async retryFailed(filter: FailedLeadFilter, by: string, guard: ReadGuard = (read) => read): Promise<{ matched: number; retried: number }> {
    const reason = filter.reason?.toLowerCase();
    const after = filter.failedAfter ?? -Infinity;
    const before = filter.failedBefore ?? Infinity;
    const matches: LeadJob[] = [];
    // Collect first: retrying moves jobs out of the failed set and would shift the pages.
    for await (const job of this.jobsIn('failed', false, guard)) {
      if (matches.length >= filter.limit) break;
      const failedAt = job.finishedOn ?? 0;
      if (failedAt < after || failedAt >= before) continue;
      if (job.data && isErased(job.data)) continue;
      if (reason && !(await this.failureText(job)).toLowerCase().includes(reason)) continue;
      matches.push(job);
    }
    const retried = await replayAll(matches, (job) => this.replay(job, by), this.logger, 'Lead');
    return { matched: matches.length, retried };
  }

  /** Re-queues these failed leads (a failure group the index found), each as `retry` does; how many went. */
  async retryLeads(ids: string[], by: string): Promise<number> {
    let retried = 0;
    for (const id of ids) if ((await this.retry(id, by)) === 'retried') retried++;
    return retried;
  }

  /**
   * An erasure request: a lead still queued is cancelled and removed whole; a finished one
   * loses its personal data and keeps its metadata; one being delivered is left alone.
   */
  async erase(id: string): Promise<EraseOutcome> {
    const job = await this.queue.getJob(id);
    if (!job) return { outcome: 'not_found' };
    const state = await job.getState();
    if (state === 'active') return { outcome: 'busy' };
    if (state === 'completed' || state === 'failed') {
      const had = holdsPersonalData(job.data);
      if (had) await this.scrub(job);
      // Already without personal data (retention): the index may still hold its identifying entries.
      else await this.indexErased(id);
      // Callbacks that outlived their lead's data (a race with a scrub) go now.
      const hadCallbacks = !had && (await this.deleteCallbacks(id)) > 0;
      return { outcome: 'scrubbed', had: had || hadCallbacks };
    }
    try {
      await job.remove();
    } catch (error) {
      // Picked up for delivery meanwhile (a worker's lock keeps it), or delivered already.
      if ((await job.getState()) !== state) return { outcome: 'picked_up' };
      throw error;
    }
    await this.deleteCallbacks(id);
    await this.bestEffort(id, 'index entries not removed', async () => {
      const stored = await this.identifyingEntries(id);
      const commands = (await this.redis()).multi();
      this.index.remove(commands, { id, source: job.data.source }, stored);
      await execAll(commands);
    });
    return { outcome: 'removed' };
  }

  /** Retention: scrubs the personal data of leads delivered before `cutoff`, oldest first; how many. */
  async scrubDeliveredBefore(cutoff: number): Promise<number> {
    let scrubbed = 0;
    for await (const job of this.jobsIn('completed', true)) {
      if ((job.finishedOn ?? 0) >= cutoff) break;
      if (!job.data || !holdsPersonalData(job.data)) continue;
      await this.scrub(job);
      scrubbed++;
    }
    return scrubbed;
  }

  /** Leads of this distribution held for a new SSO sign-in go out now, not at their next check; how many. */
  async releaseHeld(distributionId: string): Promise<number> {
    const held: LeadJob[] = [];
    // Collect first: promoting moves jobs out of the delayed set and would shift the pages.
    for await (const job of this.jobsIn('delayed', true)) if (job.data?.distribution_id === distributionId) held.push(job);
    let released = 0;
    for (const job of held) {
      await job.promote().then(
        () => released++,
        () => undefined, // already moved on
      );
    }
    return released;
  }

  /** Appends one attempt to the lead's sealed log. */
  async appendAttempt(job: LeadJob, entry: AttemptRecord): Promise<void> {
    await job.log(sealLogEntry(this.keyring, entry));
  }

  /**
   * The lead waits, delayed until `until`, for a broker to sign in again, without spending an
   * attempt; the held entry says why in its sealed log. The caller then throws DelayedError.
   */
  async holdUntil(job: LeadJob, held: HeldRecord, until: number, token: string | undefined): Promise<void> {
    await Promise.all([job.log(sealLogEntry(this.keyring, held)), this.indexStatus(job.data, { status: 'waiting_reauth', error: held.reason })]);
    await job.moveToDelayed(until, token);
  }

  /**
   * Stores the lead a native event was just mapped to, sealed, as the lead's body: ops see
   * what was sent (GET /v1/leads/{id} and the dashboard show ciphertext only in Redis). The
   * next attempt maps the event again, with the mapping in force then.
   */
  async recordMapped(job: LeadJob, lead: LeadBody): Promise<void> {
    await job.updateData({ ...job.data, sealed_lead: sealLead(this.keyring, lead) });
    const ref = lead.prospect?.external_ref?.external_ref;
    const { lead_id: id, received_at: received } = job.data;
    await this.bestEffort(id, 'external ref not indexed', async () => {
      const client = await this.redis();
      const previous = await client.hget(this.index.meta(id), 'ref');
      if (previous === (typeof ref === 'string' ? ref : null)) return;
      const commands = client.multi();
      this.index.setExternalRef(commands, id, Date.parse(received) || Date.now(), previous, typeof ref === 'string' ? ref : null);
      await execAll(commands);
    });
  }

  /** Records how long 429s have held this lead in all (that time spends no attempts). */
  async recordRateLimitWait(job: LeadJob, totalMs: number): Promise<void> {
    await job.updateData({ ...job.data, rate_limited_ms: totalMs });
  }

  /** Pauses every delivery of every worker for `ms` (a 429, an opened circuit). */
  async pauseDeliveries(ms: number): Promise<void> {
    await this.queue.rateLimit(ms);
  }

  /** WeGroup's callbacks about a lead, opened (one that cannot be opened is left out), oldest first. */
  private async callbacksOf(id: string): Promise<CallbackRecord[]> {
    const client = await this.redis();
    const sealed = await client.lrange(this.queue.toKey(CALLBACKS_KEY + id), 0, -1);
    return sealed.flatMap((line) => {
      try {
        return [JSON.parse(this.keyring.open(line)) as CallbackRecord];
      } catch {
        return [];
      }
    });
  }

  /** Removes a lead's callbacks and their count; how many keys there were. */
  private async deleteCallbacks(id: string): Promise<number> {
    const client = await this.redis();
    return client.del(this.queue.toKey(CALLBACKS_KEY + id), this.queue.toKey(CALLBACK_COUNT_KEY + id));
  }

  /** The connection for the app's own keys beside the queue, with the index's scripts defined (so its pipelines have them too). */
  private async redis(): Promise<RedisClient> {
    const client = await this.queue.state.get();
    defineIndexScripts(client);
    return client;
  }

  /** Every job in a state, a page per round trip (newest first unless `asc`). */
  private async *jobsIn(state: 'failed' | 'completed' | 'delayed', asc: boolean, guard: ReadGuard = (read) => read): AsyncGenerator<LeadJob> {
    for (let start = 0; ; start += PAGE) {
      const page = await guard(this.queue.getJobs([state], start, start + PAGE - 1, asc));
      for (const job of page) if (job) yield job;
      if (page.length < PAGE) return;
    }
  }

  private async replay(job: LeadJob, by: string): Promise<void> {
    const entry: ReplayRecord = { kind: 'replayed', at: new Date().toISOString(), by };
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    await Promise.all([
      job.log(JSON.stringify(entry)),
      job.data.rate_limited_ms ? job.updateData({ ...job.data, rate_limited_ms: 0 }) : null,
      // Its last error stays on the row until the next attempt says otherwise.
      this.indexStatus(job.data, { status: 'queued', attempts: 0 }),
    ]);
  }

  /** The failure in full: the job keeps a summary in clear, WeGroup's own words are sealed in the log. */
  private async failureText(job: LeadJob): Promise<string> {
    const { logs } = await this.queue.getJobLogs(job.id!, -1, -1);
    const last = logs[0] ? openLogLine(this.keyring, logs[0]) : null;
    return `${job.failedReason ?? ''}\n${last?.kind === 'attempt' ? (last.error ?? '') : ''}`;
  }

  /**
   * Removes a finished lead's personal data and keeps its metadata: the sealed body goes, so
   * does a native lead's raw event (its type and event id stay), and WeGroup's callbacks, and
   * the attempt log is rewritten without WeGroup's words and bodies (which can echo the prospect). Only for jobs
   * no worker holds (completed or failed).
   */
  private async scrub(job: LeadJob): Promise<void> {
    const { logs } = await this.queue.getJobLogs(job.id!);
    const entries = this.openLog(logs);
    const { native } = job.data;
    await job.updateData({
      ...job.data,
      sealed_lead: null,
      ...(native ? { native: { ...native, sealed_event: null } } : {}),
      lead_erased_at: new Date().toISOString(),
    });
    await job.clearLogs();
    for (const entry of entries) await job.log(JSON.stringify(scrubEntry(entry)));
    // WeGroup's callbacks may echo the prospect: they go with the lead's data.
    await this.deleteCallbacks(job.id!);
    await this.indexErased(job.id!);
  }

  /** The index row stays, marked erased, without its external ref and WeGroup lead id (and out of their lookups). */
  private async indexErased(id: string): Promise<void> {
    await this.bestEffort(id, 'index entries not erased', async () => {
      const stored = await this.identifyingEntries(id);
      const client = await this.redis();
      if (!(await client.exists(this.index.meta(id)))) return;
      const commands = client.multi();
      this.index.markErased(commands, id, stored);
      await execAll(commands);
    });
  }

  /** The external ref and WeGroup lead id the row holds: the lookups erasure must take it out of. */
  private async identifyingEntries(id: string): Promise<{ externalRef: string | null; wegroupLeadId: string | null }> {
    const client = await this.redis();
    const [externalRef, wegroupLeadId] = await client.hmget(this.index.meta(id), 'ref', 'wg');
    return { externalRef, wegroupLeadId };
  }

  /** A change of the lead's index row on its own (holds, replays), best effort. */
  private async indexStatus(data: DeliverLeadJobData, change: IndexStatusChange): Promise<void> {
    await this.bestEffort(data.lead_id, 'index not updated', async () => {
      const now = Date.now();
      await runIndexScript(await this.redis(), this.index.setStatusCall({ id: data.lead_id, source: data.source, receivedAt: Date.parse(data.received_at) || now }, change, now));
    });
  }

  /** Index writes never fail what they follow: a warning, with the lead's id and Redis's words only. */
  private async bestEffort(id: string, what: string, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.logger.warn(`Lead ${id}: ${what} (${(error as Error)?.message ?? 'error'})`);
    }
  }

  private openLog(lines: string[]): LeadLogEntry[] {
    return lines.map((line) => openLogLine(this.keyring, line)).filter((entry): entry is LeadLogEntry => entry !== null);
  }
}

/** Sends a pipeline or MULTI; throws the first command's error (ioredis reports them per command). */
async function execAll(commands: ChainableCommander): Promise<void> {
  const results = await commands.exec();
  if (!results) throw new Error('The transaction was aborted');
  const failed = results.find(([error]) => error);
  if (failed) throw failed[0];
}

/** Its personal data is gone (erasure, retention): nothing about the prospect is taken any more. */
function isErased(data: DeliverLeadJobData): boolean {
  return Boolean(data.lead_erased_at) || !holdsPersonalData(data);
}

/** A lead holds personal data while its body or (native leads) its raw event is kept. */
function holdsPersonalData(data: DeliverLeadJobData): boolean {
  return Boolean(data.sealed_lead) || Boolean(data.native?.sealed_event);
}
