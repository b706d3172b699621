import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import type { RedisClient } from '@app/queue';
import { Keyring } from '@app/config';
import { dataKeyringConfig } from '@app/leads';
import { redisConfig } from '@app/queue';
import { weGroupConfig } from '@app/wegroup';
import { deliveryConfig, WorkerAppConfig } from './worker.config';
import {
  afterRefusal,
  AttemptEntry,
  AttemptOutcome,
  attemptsFor,
  callbackUrl,
  decide,
  Decision,
  DeliverLeadJobData,
  DeliveryOutcome,
  DeliveryResult,
  Failure,
  LeadBody,
  LeadMappingError,
  LeadRepository,
  MAX_PROSPECT_CALLBACKS,
  openEvent,
  openLead,
  RETRY_SCHEDULE_BACKOFF,
  retryDelayMs,
  UnreadableJobError,
  withCallbackUrl,
  withCircuitCount,
} from '@app/leads';
import { checkRedisDurability, CircuitBreaker, closeWithin, keyPrefix, LEADS_QUEUE, REDIS_CONNECTION } from '@app/queue';
import { PUSH_LEAD_SCOPE, PushLeadOptions, WEGROUP_AUTH_PROVIDER, WeGroupAuthProvider, WeGroupClient, truncate } from '@app/wegroup';
import { RepeatedErrorLog, withLogContext } from '@app/observability';
import { NativeLeadMapper, SourceRegistry, sourcesConfig, SourcesConfig } from '@app/sources';
import { externalRefOf, LeadEventEmitter, LeadEventInput } from '@app/events';
import { WorkerMetrics } from './worker.metrics';

/** A transient failure; BullMQ's backoff strategy reads the delay the policy chose and logged. */
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
 * The error BullMQ stores on the job for an expected failure: its message is the reason ops
 * read (failedReason, the dashboard); a stack would only show our server's paths there.
 */
function forTheJob<T extends Error>(error: T): T {
  error.stack = undefined;
  return error;
}

/**
 * BullMQ only enforces a manual rate limit (our 429 and circuit-breaker pauses) when the
 * worker has a limiter; this one is far above any real throughput, so it never limits alone.
 */
const LIMITER = { max: 1_000_000, duration: 1_000 };

/** Says so when WeGroup's Retry-After was cut to its cap. */
function capped({ retryAfterMs, honouredRetryAfterMs }: Failure): string {
  return retryAfterMs !== null && retryAfterMs > (honouredRetryAfterMs ?? 0) ? ` (WeGroup asked ${retryAfterMs} ms; capped)` : '';
}

type LeadJob = Job<DeliverLeadJobData, DeliveryResult>;
/**
 * Consumes the leads queue, pushes each lead to WeGroup and carries out what the delivery
 * policy (`decide`, @app/leads) makes of the outcome: a retry is rethrown so BullMQ retries
 * it on the schedule, a failure ends the job as UnrecoverableError carrying the reason, a
 * pause (429, open circuit) puts the lead back without spending its attempt. Nothing is
 * swallowed. Every call on the BullMQ Job is in the small methods at the end.
 */
@Injectable()
export class LeadDeliveryProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(LeadDeliveryProcessor.name);
  private readonly config: Pick<WorkerAppConfig, 'redis' | 'wegroup' | 'delivery' | 'dataKeyring'>;
  private readonly attempts: number;
  private readonly keyring: Keyring;
  private worker?: Worker<DeliverLeadJobData, DeliveryResult>;
  /** The deliveries under way, which shutdown gives time to finish. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    @Inject(redisConfig.KEY) redisOptions: ConfigType<typeof redisConfig>,
    @Inject(weGroupConfig.KEY) wegroup: ConfigType<typeof weGroupConfig>,
    @Inject(deliveryConfig.KEY) delivery: ConfigType<typeof deliveryConfig>,
    @Inject(dataKeyringConfig.KEY) dataKeyring: ConfigType<typeof dataKeyringConfig>,
    private readonly client: WeGroupClient,
    @Inject(WEGROUP_AUTH_PROVIDER) private readonly auth: WeGroupAuthProvider,
    @Inject(REDIS_CONNECTION) private readonly redis: RedisClient,
    private readonly leads: LeadRepository,
    private readonly breaker: CircuitBreaker,
    private readonly sources: SourceRegistry,
    private readonly mapper: NativeLeadMapper,
    @Optional() private readonly metrics?: WorkerMetrics,
    @Optional() private readonly events?: LeadEventEmitter,
    @Optional() @Inject(sourcesConfig.KEY) sourcesSettings?: Pick<SourcesConfig, 'publicBaseUrl'>,
  ) {
    this.config = { redis: redisOptions, wegroup, delivery, dataKeyring };
    this.keyring = this.config.dataKeyring;
    this.attempts = attemptsFor(this.config.delivery.retry);
    this.callbackBase = this.callbackBaseOf(sourcesSettings?.publicBaseUrl ?? null);
  }

  // ---- WeGroup's callbacks about a lead come back to us (PUBLIC_BASE_URL) --------------------

  /** PUBLIC_BASE_URL when WeGroup may be given URLs under it: https, or http with ALLOW_HTTP_URLS (local use). */
  private readonly callbackBase: string | null;

  private callbackBaseOf(publicBaseUrl: string | null): string | null {
    if (publicBaseUrl === null) return null;
    if (publicBaseUrl.startsWith('https:') || this.config.delivery.allowHttpUrls) return publicBaseUrl;
    this.logger.warn('PUBLIC_BASE_URL is http without ALLOW_HTTP_URLS=true: leads go to WeGroup without our callback URL');
    return null;
  }

  /**
   * The lead as pushed: with PUBLIC_BASE_URL, our callback URL for it after the CRM's own; the
   * stored lead stays as the source sent it. A prospect with WeGroup's maximum of URLs keeps
   * the CRM's (said once, on the lead's first attempt).
   */
  private withOurCallback(job: LeadJob, data: DeliverLeadJobData, lead: LeadBody): LeadBody {
    if (this.callbackBase === null) return lead;
    const pushed = withCallbackUrl(lead, callbackUrl(this.keyring, this.callbackBase, data.lead_id));
    if (pushed.full && job.attemptsMade === 0) this.logger.warn(`Lead ${data.lead_id} already has ${MAX_PROSPECT_CALLBACKS} callback URLs: ours is not added, no WeGroup callback will be recorded`);
    return pushed.lead;
  }

  onApplicationBootstrap(): void {
    const { redis: redisConfig, delivery } = this.config;
    void checkRedisDurability(this.redis, this.logger);
    // Every line logged about a lead carries its request id (from the intake) and lead id.
    const processor = (job: Job<DeliverLeadJobData, DeliveryResult>, token?: string) =>
      this.tracked(withLogContext({ request_id: job.data?.request_id, lead_id: job.data?.lead_id }, () => this.process(job, token)));
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
    // Stop taking leads, then wait for the in-flight ones here, not in BullMQ's pause(): that
    // one ends by reconnecting the Worker's blocking connection, and when it outlives the wait
    // (a rate-limit pause only ends on close) it reconnects while close() is releasing it,
    // leaving a connection nothing closes. With Redis away there is nothing to wait for: no
    // delivery could record its outcome.
    await this.worker.pause(true);
    const redisAway = this.redis.status !== 'ready';
    const late = redisAway || (await Promise.race([Promise.allSettled([...this.inFlight]).then(() => false), timedOut]));
    clearTimeout(timer);
    if (late) {
      const why = redisAway ? 'Redis is unreachable: not waiting for in-flight deliveries' : 'In-flight deliveries did not finish in time';
      this.logger.warn(`${why}; their locks will expire and another worker will deliver them`);
    }
    await closeWithin(this.worker.close(late), 'the leads worker', this.logger);
  }

  async process(job: LeadJob, token?: string): Promise<DeliveryResult> {
    const { data, attemptsMade, attempts } = this.read(job);
    // Admission comes before a native lead is mapped. While the circuit is open every lead is
    // put back and taken again after each cool-down: mapping it each time would spend the
    // platform's API quota (HubSpot, Pipedrive, Graph fetches) and CPU on leads that cannot go
    // anyway, and the mapping that counts is the one in force when WeGroup is reachable. The
    // price: a broken mapping is reported once the circuit lets leads through again, and a
    // probe whose lead fails before WeGroup is called tells the breaker nothing (its slot
    // lapses after one cool-down) — a fetch or mapping failure is not WeGroup's, so it must
    // neither close nor open the circuit.
    const admission = await this.breaker.admit();
    const started = Date.now();
    const outcome: AttemptOutcome = admission.ok
      ? await this.attempt(job, data)
      : admission.state === 'open'
        ? { type: 'circuit_open', remainingMs: admission.remainingMs }
        : { type: 'probe_out' };
    const context = { attempt: attemptsMade + 1, attempts, retry: this.config.delivery.retry, breakerCooldownMs: this.config.delivery.breaker.cooldownMs, now: Date.now(), random: Math.random };
    let decision = decide(outcome, data ?? {}, context);
    const attempt = context.attempt;
    const record = (entry: AttemptEntry) => {
      this.metrics?.delivery(entry.outcome, entry.status_code, data?.received_at);
      return this.leads.appendAttempt(job, { kind: 'attempt', attempt, at: new Date(started).toISOString(), duration_ms: Date.now() - started, ...entry });
    };

    switch (decision.type) {
      case 'delivered':
        await Promise.all([
          record(decision.entry),
          this.breaker.recordSuccess(),
          this.recordOutcome(data, { status: 'delivered', attempts: attempt, wegroupLeadId: decision.result.lead_id }),
        ]);
        this.logger.log(`Lead ${data.lead_id} delivered on attempt ${attempt} (WeGroup ${decision.result.status_code})`);
        await this.emit(job, 'lead.delivered', '', { wegroup: { status_code: decision.result.status_code, lead_id: decision.result.lead_id } });
        return decision.result;
      case 'pause':
        if (decision.cause !== 'rate_limited') {
          this.metrics?.delivery('held', null);
          return this.holdBack(decision.ms);
        }
        await record(decision.rateLimited.entry);
        this.logFailure(data, attempt, decision.rateLimited.failure, { retry_after_ms: decision.rateLimited.failure.retryAfterMs, pause_ms: decision.ms }, `; every delivery pauses for ${decision.ms} ms${capped(decision.rateLimited.failure)}`);
        await this.leads.recordRateLimitWait(job, decision.rateLimited.waitedMs);
        return this.holdBack(decision.ms);
      case 'await_sign_in':
        this.metrics?.delivery('held', null);
        this.logger.warn(`Lead ${data.lead_id} waits for a new SSO sign-in of distribution ${data.distribution_id}`);
        await this.leads.holdUntil(job, decision.held, decision.until, token);
        throw new DelayedError();
      case 'retry':
      case 'fail': {
        if (decision.countsTowardCircuit) decision = withCircuitCount(decision, await this.countTowardCircuit(admission.ok && admission.probe));
        await Promise.all([record(decision.entry), this.recordOutcome(data, { status: decision.type === 'fail' ? 'failed' : 'retrying', attempts: attempt, reason: decision.reason })]);
        this.logFailed(data, attempt, decision);
        if (decision.pauseMs) await this.leads.pauseDeliveries(decision.pauseMs);
        // This attempt's start tells a replayed lead's attempts from the first run's (a replay resets the count).
        const occurrence = `${attempt}:${job.processedOn ?? started}`;
        if (decision.type === 'retry') {
          await this.emit(job, 'lead.retrying', occurrence, { reason: decision.reason, attempt, next_attempt_at: new Date(Date.now() + decision.delayMs).toISOString() });
        } else {
          await this.emit(job, 'lead.failed', occurrence, { reason: decision.reason, attempts: attempt, retryable: true });
        }
        throw forTheJob(decision.type === 'retry' ? new RetryableDeliveryError(decision.reason, decision.delayMs) : new UnrecoverableError(decision.reason));
      }
    }
  }

  /**
   * Queues an event for the lead's source (when it has an events endpoint that takes the
   * type). Only stored, never sent here; and never fails the delivery: the lead's outcome is
   * recorded already, and WeGroup may have the lead.
   */
  private async emit(job: LeadJob, type: LeadEventInput['type'], key: string, data: Record<string, unknown>): Promise<void> {
    const lead = job.data;
    // Asked first: the event's external_ref means opening the sealed lead again, and most sources take no events.
    if (!this.events || typeof lead?.lead_id !== 'string' || typeof lead.source !== 'string' || !this.events.takes(lead.source, type)) return;
    try {
      await this.events.emit({ type, lead_id: lead.lead_id, source: lead.source, key, data: { external_ref: this.externalRef(lead), ...data } });
    } catch (error) {
      this.logger.warn(`Lead ${lead.lead_id}: event ${type} not stored (${(error as Error)?.name ?? 'error'})`);
    }
  }

  /** The source's own id of the lead (never a prospect field), or null (none, or erased). */
  private externalRef(data: DeliverLeadJobData): unknown {
    try {
      return externalRefOf(openLead(this.keyring, data));
    } catch {
      return null;
    }
  }

  private tracked<T>(delivery: Promise<T>): Promise<T> {
    this.inFlight.add(delivery);
    delivery.then(
      () => this.inFlight.delete(delivery),
      () => this.inFlight.delete(delivery),
    );
    return delivery;
  }

  /** Reads (a native lead: maps) the lead and pushes it; whatever goes wrong becomes the outcome the policy decides on. */
  private async attempt(job: LeadJob, data: DeliverLeadJobData | undefined): Promise<AttemptOutcome> {
    try {
      const lead = data?.native ? await this.mapNative(job, data) : this.readLead(data);
      if (!lead) return { type: 'erased' };
      const result = await this.push(data!, this.withOurCallback(job, data!, lead));
      return { type: 'delivered', ...result };
    } catch (error) {
      return { type: 'failed', error };
    }
  }

  /**
   * A native lead: its event mapped now, with its source's mapping as configured now (a fixed
   * mapping applies to the next attempt, and to a lead ops retry). The mapped lead is stored
   * sealed as the lead's body before it goes, so ops can see what was sent. Null: the event
   * was erased. Throws LeadMappingError, SourceFetchError (the policy classifies them) or
   * UnreadableJobError.
   */
  private async mapNative(job: LeadJob, data: DeliverLeadJobData): Promise<LeadBody | null> {
    const native = data.native!;
    if (
      typeof data.lead_id !== 'string' ||
      typeof data.distribution_id !== 'string' ||
      typeof data.source !== 'string' ||
      typeof native.type !== 'string' ||
      typeof native.event_id !== 'string' ||
      (typeof native.sealed_event !== 'string' && native.sealed_event !== null)
    ) {
      throw new UnreadableJobError('The job is not a native lead delivery: lead_id, distribution_id, source or native (type, event_id, sealed_event) is missing or malformed');
    }
    const source = this.sources.get(data.source);
    if (!source) throw new LeadMappingError(`Source "${data.source}" is no longer configured (SOURCES_FILE): add it back, then retry the lead`);
    // Another type's adapter would read this event as nonsense.
    if (source.type !== native.type) {
      throw new LeadMappingError(`Source "${data.source}" is now of type ${source.type}, but this lead's event was received as ${native.type}: restore its type, then retry the lead`);
    }
    const payload = this.openSealed(() => openEvent(this.keyring, data), 'event');
    if (payload === null) return null;
    const lead = await this.mapper.map(source, { eventId: native.event_id, payload });
    await this.leads.recordMapped(job, lead);
    return lead;
  }

  /**
   * The attempt's outcome in the per-source counter (GET /v1/sources), the 5-minute counters
   * and the lead index (the console), in one round trip. Best effort: once WeGroup has the
   * lead, a counter or index row that cannot be written must not fail the job (it would be
   * delivered again). A payload too malformed to name its lead and source is not recorded.
   */
  private async recordOutcome(data: DeliverLeadJobData | undefined, outcome: DeliveryOutcome): Promise<void> {
    if (typeof data?.source !== 'string' || typeof data.lead_id !== 'string' || typeof data.received_at !== 'string') return;
    try {
      await this.leads.recordOutcome(data, outcome);
    } catch (error) {
      this.logger.warn({ err: error }, `Lead ${data.lead_id}: the ${outcome.status} outcome was not counted or indexed (source ${data.source})`);
    }
  }

  /** Counts a transient failure; the cool-down when this one opened the circuit. */
  private async countTowardCircuit(probe: boolean): Promise<number | null> {
    const openedForMs = await this.breaker.recordFailure(probe);
    if (openedForMs !== null) {
      this.metrics?.breakerOpened.inc();
      this.logger.warn(`Circuit opened after repeated transient failures: deliveries pause for ${openedForMs} ms`);
    }
    return openedForMs;
  }

  private logFailed(data: DeliverLeadJobData | undefined, attempt: number, decision: Extract<Decision, { type: 'retry' | 'fail' }>): void {
    const { failure, pauseMs } = decision;
    if (failure.kind === 'permanent') return this.logFailure(data, attempt, failure, {}, '');
    const nextDelayMs = decision.type === 'retry' ? decision.delayMs : null;
    this.logFailure(
      data,
      attempt,
      failure,
      { retry_after_ms: failure.retryAfterMs, pause_ms: pauseMs, next_delay_ms: nextDelayMs },
      `${nextDelayMs === null ? '; no attempt left' : `; next attempt in ${nextDelayMs} ms`}${pauseMs ? `; every delivery pauses for ${pauseMs} ms${capped(failure)}` : ''}`,
    );
  }

  /** One line per failed attempt, in clear: the reason masks values; an unexpected error is logged whole (the serializer masks values in its message). */
  private logFailure(data: DeliverLeadJobData | undefined, attempt: number, failure: Failure, fields: Record<string, unknown>, then: string): void {
    const unexpected = failure.error !== undefined;
    // A native lead's fetch or mapping failed before WeGroup was called: say where, not WeGroup's status.
    const where = failure.before ? `${failure.before === 'fetch' ? "fetching the source's record" : "mapping the source's event"}, WeGroup not called` : `WeGroup status ${failure.statusCode ?? 'none'}`;
    this.logger.warn(
      { ...(unexpected ? { err: failure.error } : {}), attempt, status_code: failure.statusCode, ...(failure.before ? { failed_before: failure.before, source: data?.source } : {}), ...fields },
      `Lead ${data?.lead_id} attempt ${attempt} failed (${failure.kind}, ${where}${unexpected ? ', unexpected error' : ''}): ${failure.reason}${then}`,
    );
  }

  /** One push; with SSO a 401 earns one renewal and one more try, a 403 is reported on the connection. */
  private async push(data: DeliverLeadJobData, lead: LeadBody) {
    const { distribution_id: distributionId } = data;
    const credentials = await this.auth.credentialsFor(distributionId);
    try {
      return await this.client.pushLead(this.config.wegroup.apiUrl, distributionId, lead, credentials, this.pushOptions(data));
    } catch (error) {
      const next = afterRefusal(error, credentials.scheme);
      if (next === 'report_forbidden') await this.auth.reportForbidden?.(distributionId, PUSH_LEAD_SCOPE);
      const renewed = next === 'renew_and_retry' ? await this.auth.renewAfterUnauthorized?.(distributionId, credentials) : null;
      if (!renewed) throw error;
      return this.client.pushLead(this.config.wegroup.apiUrl, distributionId, lead, renewed, this.pushOptions(data));
    }
  }

  /** The lead to send (null: erased), or an UnreadableJobError that no retry can cure. */
  private readLead(data: DeliverLeadJobData | undefined): LeadBody | null {
    if (typeof data?.distribution_id !== 'string' || typeof data.lead_id !== 'string' || (typeof data.sealed_lead !== 'string' && data.sealed_lead !== null)) {
      throw new UnreadableJobError('The job is not a lead delivery: lead_id, distribution_id or sealed_lead is missing or malformed');
    }
    return this.openSealed(() => openLead(this.keyring, data), 'data');
  }

  /** Opens the lead's sealed body or event, or throws an UnreadableJobError that no retry can cure. */
  private openSealed<T>(open: () => T, what: 'data' | 'event'): T {
    try {
      return open();
    } catch (cause) {
      // The keyring's words name a key id at most; a parser's may quote the lead, so not those.
      const why = cause instanceof SyntaxError ? 'its content is not JSON' : (truncate((cause as Error)?.message, 120) ?? 'unknown error');
      throw new UnreadableJobError(`The lead's sealed ${what} cannot be opened (${why}): check DATA_ENCRYPTION_KEY and DATA_ENCRYPTION_OLD_KEYS`, { cause });
    }
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
    await this.leads.pauseDeliveries(ms);
    throw Worker.RateLimitError();
  }

  // The one read of the BullMQ Job here; every change of it goes through LeadRepository.

  /** The payload as stored (possibly malformed: the policy fails it), the failed attempts so far, and how many it has. */
  private read(job: LeadJob): { data: DeliverLeadJobData; attemptsMade: number; attempts: number } {
    return { data: job.data, attemptsMade: job.attemptsMade, attempts: job.opts?.attempts ?? this.attempts };
  }
}
