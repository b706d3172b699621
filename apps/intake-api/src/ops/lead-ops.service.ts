import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { Job, Queue } from 'bullmq';
import { Keyring } from '@app/config';
import { dataKeyringConfig } from '@app/leads';
import { DeliverLeadJobData, openLogLine, ReplayRecord, scrubLeadJob } from '@app/leads';
import { CircuitBreaker } from '@app/queue';
import { ProblemException } from '../common/problem';
import { BREAKER_STATE, LEAD_QUEUE } from '../intake.tokens';
import { withRedisTimeout } from '../common/redis-timeout';
import { BulkRetryDto, BulkRetryResultDto, DeliveryStateDto, ErasureResultDto } from './lead-ops.dto';

const PAGE = 500;

/** Dead letters and replay: failed leads are kept, and ops can send them again. */
@Injectable()
export class LeadOpsService {
  private readonly logger = new Logger(LeadOpsService.name);
  private readonly keyring: Keyring;

  constructor(
    @Inject(LEAD_QUEUE) private readonly queue: Queue<DeliverLeadJobData>,
    @Inject(BREAKER_STATE) private readonly breaker: Pick<CircuitBreaker, 'state'>,
    @Inject(dataKeyringConfig.KEY) keyring: ConfigType<typeof dataKeyringConfig>,
  ) {
    this.keyring = keyring;
  }

  /** Re-queues one failed lead with a fresh retry schedule; its history stays. */
  async retry(id: string, by: string): Promise<void> {
    const job = await withRedisTimeout(this.queue.getJob(id));
    if (!job) throw new ProblemException(HttpStatus.NOT_FOUND, `No lead with id "${id.slice(0, 64)}".`);
    const state = await withRedisTimeout(job.getState());
    if (state !== 'failed') {
      throw new ProblemException(HttpStatus.CONFLICT, `Only failed leads can be retried; lead ${id} is ${state === 'completed' ? 'delivered' : 'still in the queue'}.`);
    }
    await withRedisTimeout(this.replay(job, by)).catch((error: Error) => {
      // Another retry won the race: the job is no longer in the failed set.
      if (error instanceof ProblemException) throw error;
      throw new ProblemException(HttpStatus.CONFLICT, `Lead ${id} was already re-queued.`);
    });
  }

  async retryMany(filter: BulkRetryDto, by: string): Promise<BulkRetryResultDto> {
    const reason = filter.reason?.toLowerCase();
    const after = filter.failed_after ? Date.parse(filter.failed_after) : -Infinity;
    const before = filter.failed_before ? Date.parse(filter.failed_before) : Infinity;
    const limit = filter.limit ?? 1000;
    const matches: Job<DeliverLeadJobData>[] = [];
    // Collect first: retrying moves jobs out of the failed set and would shift the pages.
    for (let start = 0; matches.length < limit; start += PAGE) {
      const page = (await withRedisTimeout(this.queue.getFailed(start, start + PAGE - 1))) as Job<DeliverLeadJobData>[];
      for (const job of page) {
        const failedAt = job.finishedOn ?? 0;
        if (failedAt < after || failedAt >= before) continue;
        if (reason && !(await this.failureText(job)).toLowerCase().includes(reason)) continue;
        if (matches.length < limit) matches.push(job);
      }
      if (page.length < PAGE) break;
    }
    let retried = 0;
    for (const job of matches) {
      try {
        await this.replay(job, by);
        retried++;
      } catch (error) {
        this.logger.warn(`Lead ${job.id} not re-queued: ${(error as Error).message}`);
      }
    }
    this.logger.log(`Bulk retry by ${by}: ${retried} of ${matches.length} failed leads re-queued`);
    return { matched: matches.length, retried };
  }

  /** The failure in full: the job keeps a summary in clear, WeGroup's own words are sealed in the log. */
  private async failureText(job: Job<DeliverLeadJobData>): Promise<string> {
    const { logs } = await this.queue.getJobLogs(job.id!, -1, -1);
    const last = logs[0] ? openLogLine(this.keyring, logs[0]) : null;
    return `${job.failedReason ?? ''}\n${last?.kind === 'attempt' ? (last.error ?? '') : ''}`;
  }

  async deliveryState(): Promise<DeliveryStateDto> {
    const [circuit_breaker, paused_for_ms, counts] = await withRedisTimeout(
      Promise.all([
        this.breaker.state(),
        this.queue.getRateLimitTtl(Number.MAX_SAFE_INTEGER),
        this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'),
      ]),
    );
    return { circuit_breaker, paused_for_ms: Math.max(0, paused_for_ms), counts };
  }

  /**
   * An erasure request: the lead's personal data goes from everywhere we keep it. A lead still
   * queued is cancelled and removed whole; a finished one keeps its metadata.
   */
  async erase(id: string): Promise<ErasureResultDto> {
    const job = await withRedisTimeout(this.queue.getJob(id));
    if (!job) throw new ProblemException(HttpStatus.NOT_FOUND, `No lead with id "${id.slice(0, 64)}".`);
    const state = await withRedisTimeout(job.getState());
    if (state === 'active') {
      throw new ProblemException(HttpStatus.CONFLICT, `Lead ${id} is being delivered right now; ask again in a few seconds.`);
    }
    if (state === 'completed' || state === 'failed') {
      const had = job.data.sealed_lead !== null;
      if (had) await withRedisTimeout(scrubLeadJob(this.queue, job as Job<DeliverLeadJobData>, this.keyring));
      this.logger.log(`Erasure of lead ${id}: personal data ${had ? 'removed' : 'already gone'}`);
      return {
        id,
        delivery_cancelled: false,
        removed: had ? ['lead data (prospect and request body)', "WeGroup's responses and error texts in the attempt log"] : [],
        kept: ['id, source, distribution, status, timestamps, WeGroup lead id'],
      };
    }
    try {
      await withRedisTimeout(job.remove());
    } catch (error) {
      if (error instanceof ProblemException) throw error;
      throw new ProblemException(HttpStatus.CONFLICT, `Lead ${id} was picked up for delivery meanwhile; ask again in a few seconds.`);
    }
    this.logger.log(`Erasure of lead ${id}: queued delivery cancelled, lead removed`);
    return {
      id,
      delivery_cancelled: true,
      removed: ['the queued delivery (cancelled)', 'lead data (prospect and request body)', 'attempt log', 'idempotency record'],
      kept: [],
    };
  }

  private async replay(job: Job<DeliverLeadJobData>, by: string): Promise<void> {
    const entry: ReplayRecord = { kind: 'replayed', at: new Date().toISOString(), by };
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    await Promise.all([job.log(JSON.stringify(entry)), job.data.rate_limited_ms ? job.updateData({ ...job.data, rate_limited_ms: 0 }) : null]);
  }
}
