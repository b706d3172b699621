import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { Worker } from 'bullmq';
import { LeadRepository, RetentionConfig, retentionConfig } from '@app/leads';
import { closeWithin, keyPrefix, MAINTENANCE_QUEUE, MaintenanceQueue, REDIS_CONNECTION, redisConfig, SCRUB_DELIVERED_JOB, type RedisClient } from '@app/queue';
import { RepeatedErrorLog } from '@app/observability';

const SWEEP_EVERY_MS = 60 * 60_000;

/**
 * Retention: a delivered lead keeps its personal data DELIVERED_RETENTION_DAYS, then only
 * its metadata stays (until LEAD_METADATA_RETENTION_DAYS). One hourly sweep for all worker
 * processes: a BullMQ job scheduler makes it run once, wherever a worker is free.
 */
@Injectable()
export class RetentionSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RetentionSweeper.name);
  private readonly retention: RetentionConfig;
  private readonly prefix: string;
  private worker?: Worker;

  constructor(
    @Inject(retentionConfig.KEY) retention: ConfigType<typeof retentionConfig>,
    @Inject(redisConfig.KEY) { queuePrefix }: ConfigType<typeof redisConfig>,
    @Inject(REDIS_CONNECTION) private readonly redis: RedisClient,
    private readonly maintenance: MaintenanceQueue,
    private readonly leads: LeadRepository,
  ) {
    this.retention = retention;
    this.prefix = keyPrefix(queuePrefix);
  }

  onApplicationBootstrap(): void {
    // Not awaited: with Redis away the command waits for it, and the worker must still boot
    // (and log) meanwhile. The scheduler is idempotent; the next boot sets it again if this fails.
    this.maintenance
      .upsertJobScheduler(SCRUB_DELIVERED_JOB, { every: SWEEP_EVERY_MS }, { name: SCRUB_DELIVERED_JOB, opts: { removeOnComplete: 10, removeOnFail: 50 } })
      .catch((error: Error) => this.logger.warn({ err: error }, `The retention sweep could not be scheduled: ${error.message}`));
    this.worker = new Worker(MAINTENANCE_QUEUE, () => this.sweep(), { connection: this.redis, prefix: this.prefix, concurrency: 1 });
    this.worker.on('error', new RepeatedErrorLog(this.logger, 'Maintenance worker error').listener);
  }

  /** The maintenance queue itself is closed by LeadQueueModule, after this. */
  async onModuleDestroy(): Promise<void> {
    if (this.worker) await closeWithin(this.worker.close(), 'the maintenance worker', this.logger);
  }

  /** Scrubs delivered leads older than the retention, oldest first; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    const scrubbed = await this.leads.scrubDeliveredBefore(now - this.retention.deliveredDays * 86_400_000);
    if (scrubbed) this.logger.log(`Retention: removed the personal data of ${scrubbed} delivered leads`);
    return scrubbed;
  }
}
