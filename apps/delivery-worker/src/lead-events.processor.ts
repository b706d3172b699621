import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { DelayedError, UnrecoverableError, Worker } from 'bullmq';
import {
  CircuitBreaker,
  closeWithin,
  createRedis,
  keyPrefix,
  LEAD_EVENTS_QUEUE,
  LeadEventJob,
  LeadEventJobData,
  LeadEventResult,
  RedisClient,
  redisConfig,
} from '@app/queue';
import { Keyring } from '@app/config';
import { attemptsFor, dataKeyringConfig, RETRY_SCHEDULE_BACKOFF, retryDelayMs } from '@app/leads';
import { RepeatedErrorLog, withLogContext } from '@app/observability';
import { decideEventAttempt, EventEndpoints, EventLogEntry, eventsConfig, EventSendOutcome, LeadEventSender, openEventBody } from '@app/events';
import { deliveryConfig } from './worker.config';

/** A transient failure of an event; the backoff strategy reads the delay the policy chose. */
export class RetryableEventError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryableEventError';
    // The message is what ops read on the job; a stack would only show our paths there.
    this.stack = undefined;
  }
}

function unrecoverable(reason: string): UnrecoverableError {
  const error = new UnrecoverableError(reason);
  error.stack = undefined;
  return error;
}

/**
 * Sends the events queue's jobs to the sources' endpoints: a BullMQ Worker of its own, on a
 * Redis connection of its own, over an HTTP client of its own (EventsModule), with a circuit
 * breaker per endpoint. An endpoint whose breaker is open has its events put back (delayed,
 * no attempt spent) — never a queue-wide rate limit, which would hold every endpoint's
 * events. Nothing here touches the leads queue: a slow or dead CRM endpoint never delays a
 * lead's delivery to WeGroup.
 */
@Injectable()
export class LeadEventsProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(LeadEventsProcessor.name);
  private worker?: Worker<LeadEventJobData, LeadEventResult>;
  private connection?: RedisClient;
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly attempts: number;

  constructor(
    @Inject(redisConfig.KEY) private readonly redisOptions: ConfigType<typeof redisConfig>,
    @Inject(deliveryConfig.KEY) private readonly delivery: ConfigType<typeof deliveryConfig>,
    @Inject(eventsConfig.KEY) private readonly events: ConfigType<typeof eventsConfig>,
    private readonly endpoints: EventEndpoints,
    private readonly sender: LeadEventSender,
    @Inject(dataKeyringConfig.KEY) private readonly keyring: Keyring,
  ) {
    this.attempts = attemptsFor(delivery.retry);
  }

  onApplicationBootstrap(): void {
    this.connection = createRedis(this.redisOptions, 'worker', 'delivery-worker-events');
    const processor = (job: LeadEventJob, token?: string) => withLogContext({ lead_id: job.data?.lead_id, event_id: job.id }, () => this.process(job, token));
    this.worker = new Worker<LeadEventJobData, LeadEventResult>(LEAD_EVENTS_QUEUE, processor, {
      connection: this.connection,
      prefix: keyPrefix(this.redisOptions.queuePrefix),
      concurrency: this.events.concurrency,
      // An event in flight is at most one request of EVENTS_TIMEOUT_MS; the lock outlives it.
      lockDuration: Math.max(this.delivery.lockMs, this.events.timeoutMs * 2),
      maxStalledCount: this.attempts,
      settings: {
        backoffStrategy: (attemptsMade: number, type?: string, error?: Error) =>
          type === RETRY_SCHEDULE_BACKOFF && error instanceof RetryableEventError ? error.delayMs : retryDelayMs(this.delivery.retry, attemptsMade, null),
      },
    });
    this.worker.on('error', new RepeatedErrorLog(this.logger, 'Events worker error').listener);
    this.logger.log(`Sending lead events of ${this.endpoints.size} source(s) with concurrency ${this.events.concurrency}`);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.worker) await closeWithin(this.worker.close(this.connection?.status !== 'ready'), 'the events worker', this.logger);
    this.connection?.disconnect();
  }

  async process(job: LeadEventJob, token?: string): Promise<LeadEventResult> {
    const data = job.data;
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts?.attempts ?? this.attempts;
    const endpoint = typeof data?.source === 'string' ? this.endpoints.endpointFor(data.source) : null;
    const started = Date.now();
    if (!endpoint || typeof data.body !== 'string' || typeof data.event_id !== 'string') {
      const reason = !endpoint ? `Source "${String(data?.source).slice(0, 64)}" has no events endpoint configured now` : 'The job is not a lead event (event_id or body missing)';
      await this.log(job, { kind: 'attempt', attempt, at: new Date(started).toISOString(), duration_ms: 0, outcome: 'permanent', status_code: null, error: reason, next_delay_ms: null });
      throw unrecoverable(reason);
    }
    if (!endpoint.types.includes(data.type)) {
      const reason = `Source "${data.source}" no longer takes ${data.type} events`;
      await this.log(job, { kind: 'attempt', attempt, at: new Date(started).toISOString(), duration_ms: 0, outcome: 'permanent', status_code: null, error: reason, next_delay_ms: null });
      throw unrecoverable(reason);
    }

    let body: string;
    try {
      body = openEventBody(this.keyring, data.body);
    } catch {
      // Sealed under a key no longer configured: no attempt can do better.
      const reason = "The event's sealed body cannot be opened: check DATA_ENCRYPTION_KEY and DATA_ENCRYPTION_OLD_KEYS";
      await this.log(job, { kind: 'attempt', attempt, at: new Date(started).toISOString(), duration_ms: 0, outcome: 'permanent', status_code: null, error: reason, next_delay_ms: null });
      throw unrecoverable(reason);
    }

    const breaker = this.breakerFor(endpoint.url);
    const admission = await breaker.admit();
    const outcome: EventSendOutcome = admission.ok
      ? await this.sender.send(endpoint, { ...data, body }, this.events.timeoutMs)
      : admission.state === 'open'
        ? { type: 'circuit_open', remainingMs: admission.remainingMs }
        : { type: 'probe_out' };
    const decision = decideEventAttempt(outcome, { attempt, attempts, retry: this.delivery.retry, breakerCooldownMs: this.delivery.breaker.cooldownMs, random: Math.random });
    const base = { kind: 'attempt' as const, attempt, at: new Date(started).toISOString(), duration_ms: Date.now() - started };

    switch (decision.type) {
      case 'hold': {
        const until = Date.now() + decision.delayMs;
        await this.log(job, { kind: 'held', at: new Date().toISOString(), until: new Date(until).toISOString() });
        await job.moveToDelayed(until, token);
        throw new DelayedError();
      }
      case 'delivered':
        await Promise.all([this.log(job, { ...base, outcome: 'delivered', status_code: decision.statusCode, error: null, next_delay_ms: null }), breaker.recordSuccess()]);
        this.logger.log(`Event ${data.event_id} (${data.type}) of lead ${data.lead_id} delivered to source ${data.source} on attempt ${attempt} (${decision.statusCode})`);
        return { status_code: decision.statusCode };
      case 'retry':
      case 'fail': {
        const transient = decision.type === 'retry' || decision.transient;
        // The endpoint answered: it is up, whatever it thought of this event.
        if (transient) await this.countFailure(breaker, admission.ok && admission.probe, data.source);
        else await breaker.recordSuccess();
        const next = decision.type === 'retry' ? decision.delayMs : null;
        await this.log(job, { ...base, outcome: transient ? 'transient' : 'permanent', status_code: decision.statusCode, error: decision.error, next_delay_ms: next });
        this.logger.warn(
          { attempt, status_code: decision.statusCode, next_delay_ms: next, source: data.source },
          `Event ${data.event_id} (${data.type}) of lead ${data.lead_id} attempt ${attempt} failed: ${decision.reason}${next === null ? '; the event ends failed' : `; next attempt in ${next} ms`}`,
        );
        throw decision.type === 'retry' ? new RetryableEventError(decision.reason, decision.delayMs) : unrecoverable(decision.reason);
      }
    }
  }

  isRunning(): boolean {
    return this.worker !== undefined && this.worker.isRunning();
  }

  /** One breaker per endpoint URL (its digest names it: a URL may carry a token), shared by every worker through Redis. */
  private breakerFor(url: string): CircuitBreaker {
    let breaker = this.breakers.get(url);
    if (!breaker) {
      const digest = createHash('sha256').update(url).digest('hex').slice(0, 24);
      breaker = new CircuitBreaker(this.connection!, this.redisOptions.queuePrefix, this.delivery.breaker, Date.now, `${LEAD_EVENTS_QUEUE}:breaker:${digest}`);
      this.breakers.set(url, breaker);
    }
    return breaker;
  }

  private async countFailure(breaker: CircuitBreaker, probe: boolean, source: string): Promise<void> {
    const openedForMs = await breaker.recordFailure(probe);
    if (openedForMs !== null) this.logger.warn(`Events endpoint of source ${source} failing repeatedly: its events pause for ${openedForMs} ms`);
  }

  /** One line of the event's attempt log (plain JSON: an event holds no personal data). */
  private async log(job: LeadEventJob, entry: EventLogEntry): Promise<void> {
    await job.log(JSON.stringify(entry));
  }
}
