import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Job, UnrecoverableError, Worker } from 'bullmq';
import type Redis from 'ioredis';
import { WorkerAppConfig } from '@app/config';
import { AttemptRecord, DeliverLeadJobData, DeliveryResult } from '@app/leads';
import { createRedis, keyPrefix, LEADS_QUEUE } from '@app/queue';
import { WEGROUP_AUTH_PROVIDER, WeGroupAuthProvider, WeGroupClient, WeGroupError } from '@app/wegroup';

/**
 * Consumes the leads queue and pushes each lead to WeGroup. Every failure is classified:
 * transient ones are rethrown so BullMQ retries them on the backoff schedule, permanent ones
 * end the job as UnrecoverableError carrying the reason. Nothing is swallowed.
 */
@Injectable()
export class LeadDeliveryProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(LeadDeliveryProcessor.name);
  private worker?: Worker<DeliverLeadJobData, DeliveryResult>;
  private redis?: Redis;
  private readonly config: WorkerAppConfig;

  constructor(
    config: ConfigService<WorkerAppConfig, true>,
    private readonly client: WeGroupClient,
    @Inject(WEGROUP_AUTH_PROVIDER) private readonly auth: WeGroupAuthProvider,
  ) {
    this.config = {
      redis: config.get('redis', { infer: true }),
      wegroup: config.get('wegroup', { infer: true }),
      delivery: config.get('delivery', { infer: true }),
    };
  }

  onApplicationBootstrap(): void {
    this.worker = new Worker<DeliverLeadJobData, DeliveryResult>(LEADS_QUEUE, (job) => this.process(job), {
      connection: (this.redis = createRedis(this.config.redis, 'worker', 'delivery-worker')),
      prefix: keyPrefix(this.config.redis.queuePrefix),
      concurrency: this.config.delivery.concurrency,
    });
    this.worker.on('error', (error) => this.logger.warn(`Worker error: ${error.message}`));
    this.logger.log(`Delivering leads to ${this.config.wegroup.apiUrl} with concurrency ${this.config.delivery.concurrency}`);
  }

  /** Finishes in-flight deliveries (each bounded by WEGROUP_TIMEOUT_MS) and takes no new ones. */
  async onModuleDestroy(): Promise<void> {
    await this.worker?.close();
    // BullMQ leaves a connection it was handed open; it is ours to close.
    this.redis?.disconnect();
  }

  async process(job: Job<DeliverLeadJobData, DeliveryResult>): Promise<DeliveryResult> {
    const { lead_id: leadId, distribution_id: distributionId, lead } = job.data;
    const attempt = job.attemptsMade + 1;
    const started = Date.now();
    const record = (entry: Pick<AttemptRecord, 'outcome' | 'status_code' | 'error' | 'body'>) =>
      job.log(JSON.stringify({ attempt, at: new Date(started).toISOString(), duration_ms: Date.now() - started, ...entry }));

    try {
      const credentials = await this.auth.credentialsFor(distributionId);
      const result = await this.client.pushLead(this.config.wegroup.apiUrl, distributionId, lead, credentials);
      await record({ outcome: 'delivered', status_code: result.statusCode, error: null, body: result.body });
      this.logger.log(`Lead ${leadId} delivered on attempt ${attempt} (WeGroup ${result.statusCode})`);
      return { status_code: result.statusCode, lead_id: result.leadId, body: result.body };
    } catch (error) {
      const failure =
        error instanceof WeGroupError ? error : new WeGroupError(`Delivery failed unexpectedly (${(error as Error)?.name ?? 'error'})`, 'transient');
      await record({ outcome: failure.kind, status_code: failure.statusCode, error: failure.message, body: failure.body });
      // The message may quote WeGroup's answer, which can echo lead data: log the status only.
      this.logger.warn(`Lead ${leadId} attempt ${attempt} failed (${failure.kind}, WeGroup status ${failure.statusCode ?? 'none'})`);
      if (failure.kind === 'permanent') throw new UnrecoverableError(failure.message);
      throw new Error(failure.message);
    }
  }
}
