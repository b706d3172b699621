import { Keyring } from '@app/config';
import { openEventBody, sealEventBody, withoutCallbackBody } from './lead-event';
import { Logger } from '@nestjs/common';
import { LeadEventJob, LeadEventsQueue, replayAll } from '@app/queue';
import type { LeadEventViewDto, ReadGuard } from '@app/leads';
import { leadEventsIndexKey } from './lead-event.emitter';

/** One line of an event's attempt log (job.log, plain JSON: no personal data is ever in an event). */
export type EventLogEntry =
  | {
      kind: 'attempt';
      attempt: number;
      at: string;
      duration_ms: number;
      outcome: 'delivered' | 'transient' | 'permanent';
      status_code: number | null;
      error: string | null;
      next_delay_ms: number | null;
    }
  /** The endpoint's breaker was open: the event waits until `until`, without spending an attempt. */
  | { kind: 'held'; at: string; until: string }
  | { kind: 'replayed'; at: string; by: string };

/** Which failed events a bulk replay takes. */
export interface FailedEventFilter {
  source?: string;
  type?: string;
  failedAfter?: number;
  failedBefore?: number;
  limit: number;
}

export type EventRetryOutcome = { outcome: 'retried' } | { outcome: 'not_found' } | { outcome: 'not_failed'; state: string };

const PAGE = 500;

function parseLine(line: string | undefined): EventLogEntry | null {
  if (!line) return null;
  try {
    return JSON.parse(line) as EventLogEntry;
  } catch {
    return null;
  }
}

/**
 * The events' records (the jobs of the events queue): what GET /v1/leads/{id} shows of a
 * lead's events, and the ops replays. Only the emitter adds events, only the worker's
 * events Worker changes them otherwise.
 */
export class LeadEventStore {
  private readonly logger = new Logger(LeadEventStore.name);

  constructor(
    private readonly queue: LeadEventsQueue,
    private readonly keyring: Keyring,
  ) {}

  /**
   * Erasure: the lead's lead.updated events lose WeGroup's callback body (sent or not: one
   * still waiting goes out without it). Ids, times and states stay. How many were changed.
   */
  async eraseCallbackBodies(leadId: string): Promise<number> {
    const client = await this.queue.state.get();
    const ids = await client.lrange(leadEventsIndexKey(this.queue, leadId), 0, -1);
    let changed = 0;
    for (const id of ids) {
      const job = await this.queue.getJob(id);
      if (job?.data?.type !== 'lead.updated' || typeof job.data.body !== 'string') continue;
      const scrubbed = withoutCallbackBody(openEventBody(this.keyring, job.data.body));
      if (scrubbed === null) continue;
      await job.updateData({ ...job.data, body: sealEventBody(this.keyring, scrubbed) });
      changed++;
    }
    return changed;
  }

  /** The lead's events, oldest first, as their delivery stands now (those past retention are gone). */
  async eventsOf(leadId: string): Promise<LeadEventViewDto[]> {
    const client = await this.queue.state.get();
    const ids = await client.lrange(leadEventsIndexKey(this.queue, leadId), 0, -1);
    const views = await Promise.all(ids.map((id) => this.view(id)));
    return views.filter((view): view is LeadEventViewDto => view !== null);
  }

  private async view(id: string): Promise<LeadEventViewDto | null> {
    const [job, state, { logs }] = await Promise.all([this.queue.getJob(id), this.queue.getJobState(id), this.queue.getJobLogs(id, -1, -1)]);
    if (!job?.data || state === 'unknown') return null;
    const last = parseLine(logs[0]);
    const attempt = last?.kind === 'attempt' ? last : null;
    const shown =
      state === 'completed' ? 'delivered' : state === 'failed' ? 'failed' : state === 'active' ? 'sending' : job.attemptsMade > 0 || attempt ? 'retrying' : 'pending';
    const waiting = shown === 'retrying' || shown === 'pending';
    const nextAt =
      !waiting ? null : last?.kind === 'held' ? last.until : attempt?.next_delay_ms != null ? new Date(Date.parse(attempt.at) + attempt.duration_ms + attempt.next_delay_ms).toISOString() : null;
    return {
      id,
      type: job.data.type,
      state: shown,
      attempts: job.attemptsMade,
      created_at: job.data.created_at,
      delivered_at: shown === 'delivered' && job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
      last_error: shown === 'delivered' ? null : (attempt?.error ?? job.failedReason) || null,
      next_attempt_at: nextAt,
      status_code: job.returnvalue?.status_code ?? attempt?.status_code ?? null,
    };
  }

  /** Re-queues one failed event with a fresh schedule (same id: receivers deduplicate); its log stays. */
  async retry(id: string, by: string): Promise<EventRetryOutcome> {
    const job = await this.queue.getJob(id);
    if (!job) return { outcome: 'not_found' };
    const state = await job.getState();
    if (state !== 'failed') return { outcome: 'not_failed', state };
    try {
      await this.replay(job, by);
    } catch (error) {
      // Another replay won the race: the job is no longer in the failed set.
      const now = await job.getState();
      if (now !== 'failed') return { outcome: 'not_failed', state: now };
      throw error;
    }
    return { outcome: 'retried' };
  }

  /** Re-queues the failed events the filter matches, newest first, at most `limit`. */
  async retryFailed(filter: FailedEventFilter, by: string, guard: ReadGuard = (read) => read): Promise<{ matched: number; retried: number }> {
    const after = filter.failedAfter ?? -Infinity;
    const before = filter.failedBefore ?? Infinity;
    const matches: LeadEventJob[] = [];
    // Collect first: replaying moves jobs out of the failed set and would shift the pages.
    outer: for (let start = 0; ; start += PAGE) {
      const page = await guard(this.queue.getJobs(['failed'], start, start + PAGE - 1, false));
      for (const job of page) {
        if (matches.length >= filter.limit) break outer;
        if (!job?.data) continue;
        const failedAt = job.finishedOn ?? 0;
        if (failedAt < after || failedAt >= before) continue;
        if (filter.source !== undefined && job.data.source !== filter.source) continue;
        if (filter.type !== undefined && job.data.type !== filter.type) continue;
        matches.push(job);
      }
      if (page.length < PAGE) break;
    }
    const retried = await replayAll(matches, (job) => this.replay(job, by), this.logger, 'Event');
    return { matched: matches.length, retried };
  }

  private async replay(job: LeadEventJob, by: string): Promise<void> {
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    const entry: EventLogEntry = { kind: 'replayed', at: new Date().toISOString(), by };
    await job.log(JSON.stringify(entry));
  }
}
