import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DelayedError, Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { RedisClient } from '@app/queue';
import { Keyring, WorkerAppConfig } from '@app/config';
import { AttemptRecord, DeliverLeadJobData, DeliveryResult, HeldRecord, openLead, sealLogEntry } from '@app/leads';
import {
  attemptsFor,
  checkRedisDurability,
  CircuitBreaker,
  DEFAULT_RATE_LIMIT_PAUSE_MS,
  keyPrefix,
  LEADS_QUEUE,
  RETRY_SCHEDULE_BACKOFF,
  retryDelayMs,
} from '@app/queue';
import {
  PUSH_LEAD_SCOPE,
  PushLeadOptions,
  ReauthRequiredError,
  WEGROUP_AUTH_PROVIDER,
  WeGroupAuthProvider,
  WeGroupClient,
  WeGroupError,
} from '@app/wegroup';
import { withLogContext } from '@app/observability';
import { WorkerMetrics } from './worker.metrics';
import { WORKER_QUEUE, WORKER_REDIS } from './worker.tokens';

/** A transient failure; BullMQ's backoff strategy reads the delay the processor chose and logged. */
export class RetryableDeliveryError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryableDeliveryError';
  }
}

/**
 * BullMQ only enforces a manual rate limit (our 429 and circuit-breaker pauses) when the
 * worker has a limiter; this one is far above any real throughput, so it never limits alone.
 */
const LIMITER = { max: 1_000_000, duration: 1_000 };

/** A lead waiting for a new SSO sign-in looks again this often (a sign-in also wakes it at once). */
export const REAUTH_RECHECK_MS = 5 * 60_000;

type AttemptOutcome = Pick<AttemptRecord, 'outcome' | 'status_code' | 'error' | 'body' | 'next_delay_ms'>;

/**
 * Consumes the leads queue and pushes each lead to WeGroup. Every failure is classified:
 * transient ones are rethrown so BullMQ retries them on the schedule, permanent ones end the
 * job as UnrecoverableError carrying the reason, and a 429 pauses the whole queue without
 * spending the lead's attempt. Nothing is swallowed.
 */
@Injectable()
export class LeadDeliveryProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(LeadDeliveryProcessor.name);
  private readonly config: WorkerAppConfig;
  private readonly attempts: number;
  private readonly keyring: Keyring;
  private worker?: Worker<DeliverLeadJobData, DeliveryResult>;

  constructor(
    config: ConfigService<WorkerAppConfig, true>,
    private readonly client: WeGroupClient,
    @Inject(WEGROUP_AUTH_PROVIDER) private readonly auth: WeGroupAuthProvider,
    @Inject(WORKER_REDIS) private readonly redis: RedisClient,
    @Inject(WORKER_QUEUE) private readonly queue: Queue<DeliverLeadJobData>,
    private readonly breaker: CircuitBreaker,
    @Optional() private readonly metrics?: WorkerMetrics,
  ) {
    this.config = {
      redis: config.get('redis', { infer: true }),
      wegroup: config.get('wegroup', { infer: true }),
      delivery: config.get('delivery', { infer: true }),
      sso: config.get('sso', { infer: true }),
      dataKeyring: config.get('dataKeyring', { infer: true }),
      retention: config.get('retention', { infer: true }),
    };
    this.keyring = this.config.dataKeyring;
    this.attempts = attemptsFor(this.config.delivery.retry);
  }

  onApplicationBootstrap(): void {
    const { redis: redisConfig, delivery } = this.config;
    void checkRedisDurability(this.redis, this.logger);
    // Every line logged about a lead carries its request id (from the intake) and lead id.
    const processor = (job: Job<DeliverLeadJobData, DeliveryResult>) =>
      withLogContext({ request_id: job.data.request_id, lead_id: job.data.lead_id }, () => this.process(job));
    this.worker = new Worker<DeliverLeadJobData, DeliveryResult>(LEADS_QUEUE, processor, {
      connection: this.redis,
      prefix: keyPrefix(redisConfig.queuePrefix),
      concurrency: delivery.concurrency,
      limiter: LIMITER,
      lockDuration: delivery.lockMs,
      stalledInterval: delivery.lockMs,
      // A lead whose worker died mid-delivery is retried, not failed: the stall is ours, not WeGroup's.
      maxStalledCount: this.attempts,
      settings: {
        backoffStrategy: (attemptsMade: number, type?: string, error?: Error) =>
          type === RETRY_SCHEDULE_BACKOFF && error instanceof RetryableDeliveryError
            ? error.delayMs
            : retryDelayMs(delivery.retry, attemptsMade, null),
      },
    });
    this.worker.on('error', (error) => this.logger.warn(`Worker error: ${error.message}`));
    this.logger.log(`Delivering leads to ${this.config.wegroup.apiUrl} with concurrency ${delivery.concurrency}`);
  }

  /**
   * SIGTERM: take no new leads, give in-flight deliveries `WORKER_SHUTDOWN_TIMEOUT_MS` to
   * finish, then let go of the rest; their locks expire and another worker delivers them.
   */
  async onModuleDestroy(): Promise<void> {
    if (!this.worker) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.config.delivery.shutdownTimeoutMs);
    });
    // pause() stops taking leads and resolves once the in-flight ones are done.
    const late = await Promise.race([this.worker.pause().then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) this.logger.warn('In-flight deliveries did not finish in time; their locks will expire and another worker will deliver them');
    await this.worker.close(late);
  }

  async process(job: Job<DeliverLeadJobData, DeliveryResult>, token?: string): Promise<DeliveryResult> {
    const leadId = job.data.lead_id;
    const admission = await this.breaker.admit();
    if (!admission.ok) {
      this.metrics?.delivery('held', null);
      return this.holdBack(admission.waitMs);
    }

    const attempt = job.attemptsMade + 1;
    const started = Date.now();
    const record = (entry: AttemptOutcome) => {
      this.metrics?.delivery(entry.outcome, entry.status_code, job.data.received_at);
      return job.log(sealLogEntry(this.keyring, { kind: 'attempt', attempt, at: new Date(started).toISOString(), duration_ms: Date.now() - started, ...entry }));
    };

    try {
      const result = await this.push(job.data);
      await Promise.all([
        record({ outcome: 'delivered', status_code: result.statusCode, error: null, body: result.body, next_delay_ms: null }),
        this.breaker.recordSuccess(),
      ]);
      this.logger.log(`Lead ${leadId} delivered on attempt ${attempt} (WeGroup ${result.statusCode})`);
      return { status_code: result.statusCode, lead_id: result.leadId };
    } catch (error) {
      if (error instanceof ReauthRequiredError) return this.waitForSignIn(job, token, error);
      const failure =
        error instanceof WeGroupError ? error : new WeGroupError(`Delivery failed unexpectedly (${(error as Error)?.name ?? 'error'})`, 'transient');
      const failed = { status_code: failure.statusCode, error: failure.message, body: failure.body };
      // The message may quote WeGroup's answer, which can echo lead data: it goes to the sealed
      // attempt log only; logs and the job's failure reason get the summary.
      this.logger.warn(`Lead ${leadId} attempt ${attempt} failed (${failure.kind}, WeGroup status ${failure.statusCode ?? 'none'})`);

      if (failure.kind === 'permanent') {
        await record({ outcome: 'permanent', ...failed, next_delay_ms: null });
        throw new UnrecoverableError(failure.summary);
      }
      if (failure.rateLimited) {
        const pauseMs = failure.retryAfterMs ?? DEFAULT_RATE_LIMIT_PAUSE_MS;
        const waited = job.data.rate_limited_ms ?? 0;
        if (waited + pauseMs <= this.config.delivery.retry.maxRateLimitWaitMs) {
          await record({ outcome: 'rate_limited', ...failed, next_delay_ms: pauseMs });
          await job.updateData({ ...job.data, rate_limited_ms: waited + pauseMs });
          return this.holdBack(pauseMs);
        }
        // Waited long enough on this lead: from here a 429 spends attempts like any transient failure.
      }

      const last = attempt >= this.attempts;
      const delayMs = retryDelayMs(this.config.delivery.retry, attempt, failure.retryAfterMs);
      await record({ outcome: 'transient', ...failed, next_delay_ms: last ? null : delayMs });
      const openedForMs = await this.breaker.recordFailure(admission.probe);
      if (openedForMs !== null) {
        this.metrics?.breakerOpened.inc();
        this.logger.warn(`Circuit opened after repeated transient failures: deliveries pause for ${openedForMs} ms`);
      }
      // A Retry-After on a 503 speaks for the whole service, not just this lead.
      const pauseMs = Math.max(openedForMs ?? 0, failure.retryAfterMs ?? 0);
      if (pauseMs > 0) await this.queue.rateLimit(pauseMs);
      throw new RetryableDeliveryError(failure.summary, delayMs);
    }
  }

  /**
   * One push; with SSO a 401 earns one token refresh and one more try, and a 403 marks the
   * scope as not effectively granted on the connection.
   */
  private async push(data: DeliverLeadJobData) {
    const { distribution_id: distributionId } = data;
    const lead = openLead(this.keyring, data);
    if (!lead) throw new WeGroupError("The lead's personal data was erased before delivery: nothing to send.", 'permanent');
    const credentials = await this.auth.credentialsFor(distributionId);
    try {
      return await this.client.pushLead(this.config.wegroup.apiUrl, distributionId, lead, credentials, this.pushOptions(data));
    } catch (error) {
      if (!(error instanceof WeGroupError) || credentials.scheme !== 'bearer') throw error;
      if (error.statusCode === 403) await this.auth.reportForbidden?.(distributionId, PUSH_LEAD_SCOPE);
      if (error.statusCode !== 401) throw error;
      const renewed = await this.auth.renewAfterUnauthorized?.(distributionId, credentials);
      if (!renewed) throw error;
      return this.client.pushLead(this.config.wegroup.apiUrl, distributionId, lead, renewed, this.pushOptions(data));
    }
  }

  /** The broker must sign in again: the lead waits, delayed, without spending an attempt. */
  private async waitForSignIn(job: Job<DeliverLeadJobData, DeliveryResult>, token: string | undefined, reason: ReauthRequiredError): Promise<never> {
    const until = Date.now() + REAUTH_RECHECK_MS;
    const entry: HeldRecord = { kind: 'held', at: new Date().toISOString(), reason: reason.message, until: new Date(until).toISOString() };
    await job.log(sealLogEntry(this.keyring, entry));
    this.metrics?.delivery('held', null);
    this.logger.warn(`Lead ${job.data.lead_id} waits for a new SSO sign-in of distribution ${job.data.distribution_id}`);
    await job.moveToDelayed(until, token);
    throw new DelayedError();
  }

  /** The lead's id travels to WeGroup; the exchange's status and duration go to the metrics. */
  private pushOptions(data: DeliverLeadJobData): PushLeadOptions {
    return { requestId: data.request_id, onResponse: this.metrics?.wegroupResponse };
  }

  /** Consuming the queue (for /health/ready): started, not paused, not closing. */
  isRunning(): boolean {
    return this.worker !== undefined && this.worker.isRunning() && !this.worker.isPaused();
  }

  /** Puts the job back in the queue without spending an attempt, and pauses every worker. */
  private async holdBack(ms: number): Promise<never> {
    await this.queue.rateLimit(ms);
    throw Worker.RateLimitError();
  }
}
