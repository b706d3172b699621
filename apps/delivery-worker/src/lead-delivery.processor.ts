import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { DelayedError, Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { RedisClient } from '@app/queue';
import { Keyring } from '@app/config';
import { dataKeyringConfig } from '@app/leads';
import { redisConfig } from '@app/queue';
import { weGroupConfig } from '@app/wegroup';
import { deliveryConfig, WorkerAppConfig } from './worker.config';
import { AttemptRecord, DeliverLeadJobData, DeliveryResult, HeldRecord, LeadBody, openLead, sealLogEntry } from '@app/leads';
import {
  attemptsFor,
  checkRedisDurability,
  CircuitBreaker,
  DEFAULT_RATE_LIMIT_PAUSE_MS,
  honouredRetryAfterMs,
  keyPrefix,
  LEADS_QUEUE,
  MAX_RATE_LIMIT_PAUSE_MS,
  RETRY_SCHEDULE_BACKOFF,
  retryDelayMs,
  withTimeout,
} from '@app/queue';
import {
  PUSH_LEAD_SCOPE,
  PushLeadOptions,
  ReauthRequiredError,
  WEGROUP_AUTH_PROVIDER,
  WeGroupAuthProvider,
  WeGroupClient,
  truncate,
  WeGroupError,
} from '@app/wegroup';
import { RepeatedErrorLog, withLogContext } from '@app/observability';
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

/** The job itself cannot be read (a retired data key, a malformed payload): every attempt would fail alike. */
export class UnreadableJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnreadableJobError';
  }
}

/**
 * The error BullMQ stores on the job for an expected failure: its message is the reason ops
 * read (failedReason, the dashboard); a stack would only show our server's paths there.
 */
function forTheJob<T extends Error>(error: T): T {
  error.stack = undefined;
  return error;
}

/** An error and its causes, each `Type: message` (the full text: for the sealed attempt log). */
function describeChain(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    parts.push(current instanceof Error ? `${current.name}: ${current.message}` : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join('; caused by ');
}

/** An error's stack and its causes' stacks (for the sealed attempt log). */
function stackChain(error: unknown): string | null {
  const stacks: string[] = [];
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    if (current.stack) stacks.push(depth === 0 ? current.stack : `Caused by: ${current.stack}`);
    current = current.cause;
  }
  return stacks.length > 0 ? (truncate(stacks.join('\n'), 8_192) ?? null) : null;
}

/**
 * A failure that is not one of WeGroup's answers. Its words stay in the sealed attempt log
 * (they can quote lead data); the reason in clear names only its type, or says what is wrong
 * with the job. An unreadable job fails at once: retrying cannot change it.
 */
function unexpectedFailure(error: unknown): WeGroupError {
  if (error instanceof UnreadableJobError) return new WeGroupError(describeChain(error), 'permanent', null, null, null, error.message);
  const name = error instanceof Error ? error.name : typeof error;
  const code = (error as { code?: unknown } | null)?.code;
  const kind = typeof code === 'string' || typeof code === 'number' ? `${name} ${code}` : name;
  return new WeGroupError(truncate(describeChain(error)) ?? kind, 'transient', null, null, null, `Delivery failed unexpectedly (${kind})`);
}

/**
 * BullMQ only enforces a manual rate limit (our 429 and circuit-breaker pauses) when the
 * worker has a limiter; this one is far above any real throughput, so it never limits alone.
 */
const LIMITER = { max: 1_000_000, duration: 1_000 };

/** How long closing a BullMQ Worker or Queue may take at shutdown (it waits on Redis, which may be away). */
export const CLOSE_TIMEOUT_MS = 5_000;

/** Shutdown must end even while Redis is unreachable: a close that hangs is given up on. */
export async function closeWithin(closing: Promise<unknown>, what: string, logger: Logger): Promise<void> {
  await withTimeout(closing, CLOSE_TIMEOUT_MS).catch((error: Error) => logger.warn(`Closing ${what}: ${error.message}; going on with the shutdown`));
}

/** A lead waiting for a new SSO sign-in looks again this often (a sign-in also wakes it at once). */
export const REAUTH_RECHECK_MS = 5 * 60_000;

type AttemptOutcome = Pick<AttemptRecord, 'outcome' | 'status_code' | 'error' | 'body' | 'next_delay_ms' | 'retry_after_ms' | 'pause_ms' | 'stack'>;

/**
 * Consumes the leads queue and pushes each lead to WeGroup. Every failure is classified:
 * transient ones are rethrown so BullMQ retries them on the schedule, permanent ones end the
 * job as UnrecoverableError carrying the reason, and a 429 pauses the whole queue without
 * spending the lead's attempt. Nothing is swallowed.
 */
@Injectable()
export class LeadDeliveryProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(LeadDeliveryProcessor.name);
  private readonly config: Pick<WorkerAppConfig, 'redis' | 'wegroup' | 'delivery' | 'dataKeyring'>;
  private readonly attempts: number;
  private readonly keyring: Keyring;
  private worker?: Worker<DeliverLeadJobData, DeliveryResult>;

  constructor(
    @Inject(redisConfig.KEY) redisOptions: ConfigType<typeof redisConfig>,
    @Inject(weGroupConfig.KEY) wegroup: ConfigType<typeof weGroupConfig>,
    @Inject(deliveryConfig.KEY) delivery: ConfigType<typeof deliveryConfig>,
    @Inject(dataKeyringConfig.KEY) dataKeyring: ConfigType<typeof dataKeyringConfig>,
    private readonly client: WeGroupClient,
    @Inject(WEGROUP_AUTH_PROVIDER) private readonly auth: WeGroupAuthProvider,
    @Inject(WORKER_REDIS) private readonly redis: RedisClient,
    @Inject(WORKER_QUEUE) private readonly queue: Queue<DeliverLeadJobData>,
    private readonly breaker: CircuitBreaker,
    @Optional() private readonly metrics?: WorkerMetrics,
  ) {
    this.config = { redis: redisOptions, wegroup, delivery, dataKeyring };
    this.keyring = this.config.dataKeyring;
    this.attempts = attemptsFor(this.config.delivery.retry);
  }

  onApplicationBootstrap(): void {
    const { redis: redisConfig, delivery } = this.config;
    void checkRedisDurability(this.redis, this.logger);
    // Every line logged about a lead carries its request id (from the intake) and lead id.
    const processor = (job: Job<DeliverLeadJobData, DeliveryResult>, token?: string) =>
      withLogContext({ request_id: job.data?.request_id, lead_id: job.data?.lead_id }, () => this.process(job, token));
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
    this.worker.on('error', new RepeatedErrorLog(this.logger, 'Worker error').listener);
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
    // pause() stops taking leads and resolves once the in-flight ones are done. With Redis
    // away there is nothing to wait for: no delivery could record its outcome.
    const redisAway = this.redis.status !== 'ready';
    const late = redisAway || (await Promise.race([this.worker.pause().then(() => false), timedOut]));
    clearTimeout(timer);
    if (late) {
      const why = redisAway ? 'Redis is unreachable: not waiting for in-flight deliveries' : 'In-flight deliveries did not finish in time';
      this.logger.warn(`${why}; their locks will expire and another worker will deliver them`);
    }
    await closeWithin(this.worker.close(late), 'the leads worker', this.logger);
  }

  async process(job: Job<DeliverLeadJobData, DeliveryResult>, token?: string): Promise<DeliveryResult> {
    const leadId = job.data?.lead_id;
    const admission = await this.breaker.admit();
    if (!admission.ok) {
      this.metrics?.delivery('held', null);
      return this.holdBack(admission.waitMs);
    }

    const attempt = job.attemptsMade + 1;
    const started = Date.now();
    const record = (entry: AttemptOutcome) => {
      this.metrics?.delivery(entry.outcome, entry.status_code, job.data?.received_at);
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
      const expected = error instanceof WeGroupError;
      const failure = expected ? error : unexpectedFailure(error);
      // The full message may quote WeGroup's answer or the lead: it goes to the sealed attempt
      // log only; logs and the job's failure reason get the reason, which masks values.
      const failed = { status_code: failure.statusCode, error: failure.message, body: failure.body, ...(expected ? {} : { stack: stackChain(error) }) };
      const askedMs = failure.retryAfterMs;
      const said = `Lead ${leadId} attempt ${attempt} failed (${failure.kind}, WeGroup status ${failure.statusCode ?? 'none'}${expected ? '' : ', unexpected error'}): ${failure.reason}`;
      // An unexpected error is logged whole (the serializer masks values in its message).
      const logged = (fields: Record<string, unknown>) => ({ ...(expected ? {} : { err: error }), attempt, ...fields });

      if (failure.kind === 'permanent') {
        await record({ outcome: 'permanent', ...failed, next_delay_ms: null });
        this.logger.warn(logged({ status_code: failure.statusCode }), said);
        throw forTheJob(new UnrecoverableError(failure.reason));
      }
      if (failure.rateLimited) {
        // Retry-After is WeGroup's word, honoured up to a cap: one header must not stop every delivery for years.
        const pauseMs = Math.min(askedMs ?? DEFAULT_RATE_LIMIT_PAUSE_MS, MAX_RATE_LIMIT_PAUSE_MS);
        const waited = job.data.rate_limited_ms ?? 0;
        if (waited + pauseMs <= this.config.delivery.retry.maxRateLimitWaitMs) {
          await record({ outcome: 'rate_limited', ...failed, next_delay_ms: pauseMs, retry_after_ms: askedMs, pause_ms: pauseMs });
          this.logger.warn(logged({ status_code: 429, retry_after_ms: askedMs, pause_ms: pauseMs }), `${said}; every delivery pauses for ${pauseMs} ms${this.capped(askedMs, pauseMs)}`);
          await job.updateData({ ...job.data, rate_limited_ms: waited + pauseMs });
          return this.holdBack(pauseMs);
        }
        // Waited long enough on this lead: from here a 429 spends attempts like any transient failure.
      }

      const last = attempt >= this.attempts;
      const honouredMs = honouredRetryAfterMs(askedMs, failure.rateLimited, this.config.delivery.breaker.cooldownMs);
      const delayMs = retryDelayMs(this.config.delivery.retry, attempt, honouredMs);
      const openedForMs = await this.breaker.recordFailure(admission.probe);
      if (openedForMs !== null) {
        this.metrics?.breakerOpened.inc();
        this.logger.warn(`Circuit opened after repeated transient failures: deliveries pause for ${openedForMs} ms`);
      }
      // A Retry-After on a 503 speaks for the whole service, not just this lead.
      const pauseMs = Math.max(openedForMs ?? 0, honouredMs ?? 0);
      const nextDelayMs = last ? null : delayMs;
      await record({ outcome: 'transient', ...failed, next_delay_ms: nextDelayMs, retry_after_ms: askedMs, pause_ms: pauseMs > 0 ? pauseMs : null });
      this.logger.warn(
        logged({ status_code: failure.statusCode, retry_after_ms: askedMs, pause_ms: pauseMs > 0 ? pauseMs : null, next_delay_ms: nextDelayMs }),
        `${said}${last ? '; no attempt left' : `; next attempt in ${delayMs} ms`}${pauseMs > 0 ? `; every delivery pauses for ${pauseMs} ms${this.capped(askedMs, honouredMs ?? 0)}` : ''}`,
      );
      if (pauseMs > 0) await this.queue.rateLimit(pauseMs);
      throw forTheJob(new RetryableDeliveryError(failure.reason, delayMs));
    }
  }

  /** Says so when a Retry-After was cut to its cap. */
  private capped(askedMs: number | null, honouredMs: number): string {
    return askedMs !== null && askedMs > honouredMs ? ` (WeGroup asked ${askedMs} ms; capped)` : '';
  }

  /**
   * One push; with SSO a 401 earns one token refresh and one more try, and a 403 marks the
   * scope as not effectively granted on the connection.
   */
  private async push(data: DeliverLeadJobData) {
    const lead = this.readLead(data);
    const { distribution_id: distributionId } = data;
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

  /** The lead to send (null: erased), or an UnreadableJobError that no retry can cure. */
  private readLead(data: DeliverLeadJobData | undefined): LeadBody | null {
    if (typeof data?.distribution_id !== 'string' || typeof data.lead_id !== 'string' || (typeof data.sealed_lead !== 'string' && data.sealed_lead !== null)) {
      throw new UnreadableJobError('The job is not a lead delivery: lead_id, distribution_id or sealed_lead is missing or malformed');
    }
    try {
      return openLead(this.keyring, data);
    } catch (cause) {
      // The keyring's words name a key id at most; a parser's may quote the lead, so not those.
      const why = cause instanceof SyntaxError ? 'its content is not JSON' : (truncate((cause as Error)?.message, 120) ?? 'unknown error');
      throw new UnreadableJobError(`The lead's sealed data cannot be opened (${why}): check DATA_ENCRYPTION_KEY and DATA_ENCRYPTION_OLD_KEYS`, { cause });
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
