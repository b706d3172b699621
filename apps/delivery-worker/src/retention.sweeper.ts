import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { Job, Queue, Worker } from 'bullmq';
import type { RedisClient } from '@app/queue';
import { Keyring } from '@app/config';
import { dataKeyringConfig } from '@app/leads';
import { redisConfig } from '@app/queue';
import { RetentionConfig, retentionConfig } from '@app/leads';
import { DeliverLeadJobData, scrubLeadJob } from '@app/leads';
import { keyPrefix, MAINTENANCE_QUEUE, SCRUB_DELIVERED_JOB } from '@app/queue';
import { RepeatedErrorLog } from '@app/observability';
import { closeWithin } from './lead-delivery.processor';
import { WORKER_QUEUE, WORKER_REDIS } from './worker.tokens';

const SWEEP_EVERY_MS = 60 * 60_000;
const PAGE = 200;

/**
 * Retention: a delivered lead keeps its personal data DELIVERED_RETENTION_DAYS, then only
 * its metadata stays (until LEAD_METADATA_RETENTION_DAYS). One hourly sweep for all worker
 * processes: a BullMQ job scheduler makes it run once, wherever a worker is free.
 */
@Injectable()
export class RetentionSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RetentionSweeper.name);
  private readonly retention: RetentionConfig;
  private readonly keyring: Keyring;
  private readonly prefix: string;
  private maintenance?: Queue;
  private worker?: Worker;

  constructor(
    @Inject(retentionConfig.KEY) retention: ConfigType<typeof retentionConfig>,
    @Inject(dataKeyringConfig.KEY) keyring: ConfigType<typeof dataKeyringConfig>,
    @Inject(redisConfig.KEY) { queuePrefix }: ConfigType<typeof redisConfig>,
    @Inject(WORKER_REDIS) private readonly redis: RedisClient,
    @Inject(WORKER_QUEUE) private readonly leads: Queue<DeliverLeadJobData>,
  ) {
    this.retention = retention;
    this.keyring = keyring;
    this.prefix = keyPrefix(queuePrefix);
  }

  onApplicationBootstrap(): void {
    this.maintenance = new Queue(MAINTENANCE_QUEUE, { connection: this.redis, prefix: this.prefix });
    // Without a listener BullMQ prints each connection error raw on stderr, between the JSON lines.
    this.maintenance.on('error', new RepeatedErrorLog(this.logger, 'Maintenance queue error').listener);
    // Not awaited: with Redis away the command waits for it, and the worker must still boot
    // (and log) meanwhile. The scheduler is idempotent; the next boot sets it again if this fails.
    this.maintenance
      .upsertJobScheduler(SCRUB_DELIVERED_JOB, { every: SWEEP_EVERY_MS }, { name: SCRUB_DELIVERED_JOB, opts: { removeOnComplete: 10, removeOnFail: 50 } })
      .catch((error: Error) => this.logger.warn({ err: error }, `The retention sweep could not be scheduled: ${error.message}`));
    this.worker = new Worker(MAINTENANCE_QUEUE, () => this.sweep(), { connection: this.redis, prefix: this.prefix, concurrency: 1 });
    this.worker.on('error', new RepeatedErrorLog(this.logger, 'Maintenance worker error').listener);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.worker) await closeWithin(this.worker.close(), 'the maintenance worker', this.logger);
    if (this.maintenance) await closeWithin(this.maintenance.close(), 'the maintenance queue', this.logger);
  }

  /** Scrubs delivered leads older than the retention, oldest first; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    const cutoff = now - this.retention.deliveredDays * 86_400_000;
    let scrubbed = 0;
    for (let start = 0; ; start += PAGE) {
      const page = (await this.leads.getJobs(['completed'], start, start + PAGE - 1, true)) as Job<DeliverLeadJobData>[];
      for (const job of page) {
        if ((job.finishedOn ?? 0) >= cutoff) return this.done(scrubbed);
        if (!job.data?.sealed_lead) continue;
        await scrubLeadJob(this.leads, job, this.keyring);
        scrubbed++;
      }
      if (page.length < PAGE) return this.done(scrubbed);
    }
  }

  private done(scrubbed: number): number {
    if (scrubbed) this.logger.log(`Retention: removed the personal data of ${scrubbed} delivered leads`);
    return scrubbed;
  }
}
