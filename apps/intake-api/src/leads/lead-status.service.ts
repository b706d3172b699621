import { Inject, Injectable } from '@nestjs/common';
import { Job, Queue } from 'bullmq';
import { ConfigType } from '@nestjs/config';
import { Keyring } from '@app/config';
import { dataKeyringConfig } from '@app/leads';
import { AttemptRecord, DeliverLeadJobData, DeliveryResult, LeadLogEntry, leadStatusFromJob, LeadStatusDto, openLogLine } from '@app/leads';
import { LEAD_QUEUE } from '../intake.tokens';
import { withRedisTimeout } from '../common/redis-timeout';

/** Reads a lead's status from its job: state, return value, failure reason and attempt log. */
@Injectable()
export class LeadStatusService {
  private readonly keyring: Keyring;

  constructor(
    @Inject(LEAD_QUEUE) private readonly queue: Queue<DeliverLeadJobData>,
    @Inject(dataKeyringConfig.KEY) keyring: ConfigType<typeof dataKeyringConfig>,
  ) {
    this.keyring = keyring;
  }

  /** The lead, or null when it does not exist or (with `source`) belongs to another source. */
  async find(id: string, source?: string): Promise<LeadStatusDto | null> {
    return withRedisTimeout(this.read(id, source));
  }

  private async read(id: string, source?: string): Promise<LeadStatusDto | null> {
    // State first: once it says finished, the job record read next is final too.
    const state = await this.queue.getJobState(id);
    if (state === 'unknown') return null;
    const [job, { logs }] = (await Promise.all([this.queue.getJob(id), this.queue.getJobLogs(id)])) as [
      Job<DeliverLeadJobData, DeliveryResult> | undefined,
      { logs: string[] },
    ];
    if (!job || (source !== undefined && job.data?.source !== source)) return null;
    const log = logs.map((line) => openLogLine(this.keyring, line)).filter((entry): entry is LeadLogEntry => entry !== null);
    const attemptsLog = log.filter((entry): entry is AttemptRecord => entry.kind === 'attempt');
    const last = attemptsLog.at(-1);
    const result = job.returnvalue ?? null;
    const latest = log.at(-1);
    const held = latest?.kind === 'held' ? latest : null;
    const status = leadStatusFromJob(state, job.attemptsMade > 0 || attemptsLog.length > 0, held !== null);
    const lastAt = latest ? Date.parse(latest.at) : 0;
    const waiting = (status === 'retrying' || status === 'queued') && last?.next_delay_ms != null;
    const nextAttempt = held ? held.until : waiting ? new Date(Date.parse(last!.at) + last!.duration_ms + last!.next_delay_ms!).toISOString() : null;
    return {
      id,
      status,
      attempts: job.attemptsMade,
      source: job.data.source,
      distribution_id: job.data.distribution_id,
      created_at: job.data.received_at,
      updated_at: new Date(Math.max(job.timestamp, job.processedOn ?? 0, job.finishedOn ?? 0, lastAt)).toISOString(),
      delivered_at: status === 'delivered' && job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
      next_attempt_at: nextAttempt,
      // The sealed log has WeGroup's own words; the job's failure reason only a summary.
      last_error: status === 'delivered' ? null : ((held?.reason ?? last?.error ?? job.failedReason) || null),
      wegroup: result
        ? { status_code: result.status_code, lead_id: result.lead_id, body: last?.outcome === 'delivered' ? last.body : null }
        : last?.status_code
          ? { status_code: last.status_code, lead_id: null, body: last.body }
          : null,
      personal_data_erased_at: job.data.lead_erased_at ?? null,
      attempts_log: log,
    };
  }
}
