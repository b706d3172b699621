import { HttpStatus, Inject, Injectable, Logger, OnApplicationShutdown, Optional } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { JobsOptions, Queue } from 'bullmq';
import { createHash, randomUUID } from 'node:crypto';
import { Keyring } from '@app/config';
import { canonicalJson, CreateLeadDto, dataKeyringConfig, DeliverLeadJobData, deliveryJobOptions, LeadBody, sealLead } from '@app/leads';
import { DELIVER_LEAD_JOB, ReplicaAck } from '@app/queue';
import { retentionConfig, retryConfig } from '@app/leads';
import { weGroupRoutesConfig } from '@app/wegroup';
import { ProblemException } from '../common/problem';
import { REDIS_ANSWER_TIMEOUT_MS, withRedisTimeout } from '../common/redis-timeout';
import { SsoConnectionsService } from '../connections/sso-connections.service';
import { LEAD_QUEUE, REPLICA_ACK } from '../intake.tokens';
import { IntakeMetrics } from '../metrics/intake.metrics';
import { LeadEnqueuer } from './lead-enqueuer';

export interface Acceptance {
  lead_id: string;
  /** True when an earlier request with the same idempotency key already created the lead. */
  replayed: boolean;
}

/** One lead of a batch, checked already. */
export interface BatchLead {
  dto: CreateLeadDto;
  /** As for a single post: `webhook:<id>` for a signed request's webhook-id. */
  idempotencyKey?: string;
}

/** What became of one lead of a batch: accepted or replayed, or refused (409, 422). */
export type BatchOutcome = Acceptance | ProblemException;

/** A lead ready to be enqueued. */
interface Prepared {
  data: DeliverLeadJobData;
  options: JobsOptions;
  idempotencyKey?: string;
}

@Injectable()
export class LeadIntakeService implements OnApplicationShutdown {
  private readonly logger = new Logger(LeadIntakeService.name);
  private readonly jobOptions: JobsOptions;
  private readonly defaultDistributionId: string;
  private readonly idempotencyTtlMs: number;
  private readonly apiTokenConfigured: boolean;
  private readonly keyring: Keyring;
  /** Concurrent posts share one addBulk (one Redis round trip) per event-loop turn. */
  private readonly enqueuer: LeadEnqueuer<DeliverLeadJobData>;
  /** How long an enqueue may take: Redis's answer, plus the WAIT for replicas if configured. */
  private readonly enqueueTimeoutMs: number;

  constructor(
    @Inject(LEAD_QUEUE) private readonly queue: Queue<DeliverLeadJobData>,
    @Inject(weGroupRoutesConfig.KEY) routes: ConfigType<typeof weGroupRoutesConfig>,
    @Inject(dataKeyringConfig.KEY) keyring: ConfigType<typeof dataKeyringConfig>,
    @Inject(retryConfig.KEY) retry: ConfigType<typeof retryConfig>,
    @Inject(retentionConfig.KEY) retention: ConfigType<typeof retentionConfig>,
    private readonly connections: SsoConnectionsService,
    @Optional() @Inject(REPLICA_ACK) replication?: ReplicaAck | null,
    @Optional() metrics?: IntakeMetrics,
  ) {
    this.apiTokenConfigured = routes.apiTokenConfigured;
    this.keyring = keyring;
    this.jobOptions = deliveryJobOptions(retry, retention);
    this.defaultDistributionId = routes.defaultDistributionId;
    this.idempotencyTtlMs = retention.idempotencyTtlSeconds * 1000;
    // With REDIS_WAIT_REPLICAS, each bulk is followed by one WAIT on the queue's own connection
    // (REPLICA_ACK wraps the client the Queue was given); a shortfall answers its leads 503.
    this.enqueuer = new LeadEnqueuer(queue, LeadEnqueuer.DEFAULT_MAX_PENDING, {
      replication: replication ?? undefined,
      onUnreplicated: ({ jobs, acknowledged, error }) => {
        metrics?.replicaWaitShortfalls.inc();
        const outcome = error ? `WAIT failed: ${error.message}` : `${acknowledged} acknowledged within ${replication?.timeoutMs} ms`;
        this.logger.warn(`${jobs} lead(s) stored but not confirmed by ${replication?.replicas} replica(s) (${outcome}); answered 503`);
      },
    });
    this.enqueueTimeoutMs = REDIS_ANSWER_TIMEOUT_MS + (replication?.timeoutMs ?? 0);
  }

  /**
   * Stores the lead as a job and resolves only once Redis has acknowledged it. Idempotency
   * rides on BullMQ's deduplication, inside the same script that adds the job, so 100
   * concurrent posts of one key still make exactly one job (whether their adds share a bulk
   * or not: each add runs its own script, in order).
   *
   * With REDIS_WAIT_REPLICAS, "acknowledged" means by that many replicas too (see
   * LeadEnqueuer); a replay is covered by the same WAIT (its add writes a "deduplicated"
   * event after the original job, on the one ordered replication stream).
   */
  async accept(dto: CreateLeadDto, source: string, idempotencyKey?: string, requestId?: string): Promise<Acceptance> {
    const distributionId = this.distributionOf(dto);
    const refusal = await this.routeProblem(distributionId);
    if (refusal) throw refusal;
    const lead = this.prepare(dto, distributionId, source, idempotencyKey, requestId);
    const job = await withRedisTimeout(
      this.enqueuer.add(DELIVER_LEAD_JOB, lead.data, lead.options),
      (error) => this.logger.warn(`Lead not enqueued, Redis unavailable: ${error.message}`),
      this.enqueueTimeoutMs,
    );
    return this.settle(job.id, lead);
  }

  /**
   * The leads of one batch, each as `accept` would take it, enqueued with one addBulk. The
   * outcomes in order: an Acceptance, or the 409 / 422 that refused that lead. Redis not
   * answering fails the whole batch (RedisUnavailableException): no outcome is claimed
   * without Redis having stored it.
   */
  async acceptMany(leads: BatchLead[], source: string, requestId?: string): Promise<BatchOutcome[]> {
    const distributions = leads.map(({ dto }) => this.distributionOf(dto));
    // One route check per distribution, however many leads name it.
    const refusals = new Map(await Promise.all([...new Set(distributions)].map(async (id) => [id, await this.routeProblem(id)] as const)));
    const outcomes: BatchOutcome[] = new Array(leads.length);
    const queued: Array<{ index: number; lead: Prepared }> = [];
    for (const [index, { dto, idempotencyKey }] of leads.entries()) {
      // Sealing is CPU work per lead: other requests get their turn every few leads.
      if (index > 0 && index % LEADS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      const refusal = refusals.get(distributions[index]);
      if (refusal) outcomes[index] = refusal;
      else queued.push({ index, lead: this.prepare(dto, distributions[index], source, idempotencyKey, requestId) });
    }
    if (queued.length === 0) return outcomes;
    const jobs = await withRedisTimeout(
      this.enqueuer.addAll(queued.map(({ lead }) => ({ name: DELIVER_LEAD_JOB, data: lead.data, opts: lead.options }))),
      (error) => this.logger.warn(`Batch of ${queued.length} leads not enqueued, Redis unavailable: ${error.message}`),
      this.enqueueTimeoutMs,
    );
    await Promise.all(
      queued.map(async ({ index, lead }, i) => {
        try {
          outcomes[index] = await this.settle(jobs[i].id, lead);
        } catch (error) {
          // A conflict is this lead's; anything else (Redis) is the whole batch's.
          if (!(error instanceof ProblemException) || error.getStatus() !== HttpStatus.CONFLICT) throw error;
          outcomes[index] = error;
        }
      }),
    );
    return outcomes;
  }

  /** Leads still waiting for their bulk are sent before the queue closes (no request waits longer than Redis's timeout). */
  async onApplicationShutdown(): Promise<void> {
    await this.enqueuer.drain(this.enqueueTimeoutMs);
  }

  private distributionOf(dto: CreateLeadDto): string {
    return dto.distribution_id ?? this.defaultDistributionId;
  }

  private prepare(dto: CreateLeadDto, distributionId: string, source: string, idempotencyKey?: string, requestId?: string): Prepared {
    const data: DeliverLeadJobData = {
      lead_id: randomUUID(),
      source,
      distribution_id: distributionId,
      received_at: new Date().toISOString(),
      ...(requestId !== undefined ? { request_id: requestId } : {}),
      sealed_lead: sealLead(this.keyring, toLeadBody(dto)),
      // Keyed, so the digest of a small body cannot be matched against guessed names.
      body_hash: this.keyring.digest(canonicalJson(dto)),
    };
    const dedupKey = idempotencyKey !== undefined ? `key:${idempotencyKey}` : derivedKey(distributionId, dto);
    const options: JobsOptions = { ...this.jobOptions, jobId: data.lead_id };
    if (dedupKey) options.deduplication = { id: sha256(`${source}\n${dedupKey}`), ttl: this.idempotencyTtlMs };
    return { data, options, idempotencyKey };
  }

  /**
   * BullMQ answers the id of the job it kept: ours when the lead was stored, the earlier
   * job's when the idempotency key deduplicated it. Then it is a replay (same body) or a 409.
   */
  private async settle(jobId: string | undefined, { data, idempotencyKey }: Prepared): Promise<Acceptance> {
    if (jobId === data.lead_id) return { lead_id: data.lead_id, replayed: false };

    const original = await withRedisTimeout(this.queue.getJob(jobId!));
    const what =
      idempotencyKey === undefined
        ? 'prospect.external_ref.external_ref (used as idempotency key)'
        : idempotencyKey.startsWith('webhook:') // the controller's key for a signed request's webhook-id
          ? 'webhook-id'
          : 'Idempotency-Key';
    if (!original) {
      throw new ProblemException(HttpStatus.CONFLICT, `This ${what} was used for lead ${jobId}, which no longer exists. Use a new key.`);
    }
    if (original.data.body_hash !== data.body_hash) {
      throw new ProblemException(
        HttpStatus.CONFLICT,
        `This ${what} was already used for lead ${jobId} with a different body. Send the same body to replay, or use a new key.`,
      );
    }
    return { lead_id: original.id!, replayed: true };
  }

  /**
   * With SSO, a lead must name a distribution we can deliver to (the API token's, or one
   * with a connection): refused now, not accepted and failed later. The 422, or null.
   */
  private async routeProblem(distributionId: string): Promise<ProblemException | null> {
    if (!this.connections.enabled) return null;
    if (this.apiTokenConfigured && distributionId === this.defaultDistributionId) return null;
    if (await this.connections.hasConnection(distributionId)) return null;
    const message = `no WeGroup connection for distribution "${distributionId}": a broker of that distribution must connect first (GET /v1/connections/sso/start)`;
    return new ProblemException(HttpStatus.UNPROCESSABLE_ENTITY, `Cannot accept this lead: ${message}.`, [{ field: 'distribution_id', message }]);
  }
}

/** Leads of a batch prepared per event-loop turn. */
const LEADS_PER_TURN = 25;

/** Without an Idempotency-Key, the CRM's own id for the prospect identifies a repeat. */
function derivedKey(distributionId: string, dto: CreateLeadDto): string | null {
  const ref = dto.prospect.external_ref?.external_ref;
  return ref ? `ref:${distributionId}:${ref}` : null;
}

/** Exactly the body WeGroup gets: the lead as received, minus our own routing field. */
export function toLeadBody(dto: CreateLeadDto): LeadBody {
  const { distribution_id: _routing, ...body } = dto;
  return body;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
