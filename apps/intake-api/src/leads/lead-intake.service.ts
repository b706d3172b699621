import { HttpStatus, Inject, Injectable, Logger, OnApplicationShutdown, Optional } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { createHash, randomUUID } from 'node:crypto';
import { Keyring } from '@app/config';
import { canonicalJson, CreateLeadDto, dataKeyringConfig, LeadBody, LeadRepository, NewLead, sealLead } from '@app/leads';
import { ReplicaAck } from '@app/queue';
import { weGroupRoutesConfig } from '@app/wegroup';
import { ProblemException } from '../common/problem';
import { REDIS_ANSWER_TIMEOUT_MS, withRedisTimeout } from '../common/redis-timeout';
import { SsoConnectionsService } from '../connections/sso-connections.service';
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
interface Prepared extends NewLead {
  idempotencyKey?: string;
}

@Injectable()
export class LeadIntakeService implements OnApplicationShutdown {
  private readonly logger = new Logger(LeadIntakeService.name);
  private readonly defaultDistributionId: string;
  private readonly apiTokenConfigured: boolean;
  private readonly keyring: Keyring;
  /** Concurrent posts share one addBulk (one Redis round trip) per event-loop turn. */
  private readonly enqueuer: LeadEnqueuer<NewLead, string>;
  /** How long an enqueue may take: Redis's answer, plus the WAIT for replicas if configured. */
  private readonly enqueueTimeoutMs: number;

  constructor(
    private readonly leads: LeadRepository,
    @Inject(weGroupRoutesConfig.KEY) routes: ConfigType<typeof weGroupRoutesConfig>,
    @Inject(dataKeyringConfig.KEY) keyring: ConfigType<typeof dataKeyringConfig>,
    private readonly connections: SsoConnectionsService,
    @Optional() @Inject(ReplicaAck) replication?: ReplicaAck | null,
    @Optional() metrics?: IntakeMetrics,
  ) {
    this.apiTokenConfigured = routes.apiTokenConfigured;
    this.keyring = keyring;
    this.defaultDistributionId = routes.defaultDistributionId;
    // With REDIS_WAIT_REPLICAS, each bulk is followed by one WAIT on the queue's own connection
    // (the ReplicaAck wraps the client the Queue was given); a shortfall answers its leads 503.
    this.enqueuer = new LeadEnqueuer({ addBulk: (batch: NewLead[]) => leads.enqueueMany(batch) }, LeadEnqueuer.DEFAULT_MAX_PENDING, {
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
    const [storedId] = await this.store([lead], 'Lead');
    return this.settle(storedId, lead);
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
    const storedIds = await this.store(
      queued.map(({ lead }) => lead),
      `Batch of ${queued.length} leads`,
    );
    await Promise.all(
      queued.map(async ({ index, lead }, i) => {
        try {
          outcomes[index] = await this.settle(storedIds[i], lead);
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

  /**
   * Stores these leads (with whatever else is enqueued in this turn: one addBulk) and answers
   * once Redis has: for each, the id of the job kept (its own, or the one it deduplicated
   * into). Redis not answering in time is a 503 + Retry-After (RedisUnavailableException);
   * `what` names the leads in the log line that says so.
   */
  async store(leads: NewLead[], what: string): Promise<string[]> {
    return withRedisTimeout(
      this.enqueuer.addAll(leads),
      (error) => this.logger.warn(`${what} not enqueued, Redis unavailable: ${error.message}`),
      this.enqueueTimeoutMs,
    );
  }

  /** The distribution a lead goes to: the one it (or its source) names, else the default (WEGROUP_DISTRIBUTION_ID). */
  distributionFor(requested: string | undefined): string {
    return requested ?? this.defaultDistributionId;
  }

  private distributionOf(dto: CreateLeadDto): string {
    return this.distributionFor(dto.distribution_id);
  }

  private prepare(dto: CreateLeadDto, distributionId: string, source: string, idempotencyKey?: string, requestId?: string): Prepared {
    const data: NewLead['data'] = {
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
    const externalRef = dto.prospect.external_ref?.external_ref ?? null;
    return { data, externalRef, ...(dedupKey ? { deduplicationId: sha256(`${source}\n${dedupKey}`) } : {}), idempotencyKey };
  }

  /**
   * BullMQ answers the id of the job it kept: ours when the lead was stored, the earlier
   * job's when the idempotency key deduplicated it. Then it is a replay (same body) or a 409.
   */
  private async settle(jobId: string, { data, idempotencyKey }: Prepared): Promise<Acceptance> {
    if (jobId === data.lead_id) return { lead_id: data.lead_id, replayed: false };

    const original = await withRedisTimeout(this.leads.findData(jobId));
    const what =
      idempotencyKey === undefined
        ? 'prospect.external_ref.external_ref (used as idempotency key)'
        : idempotencyKey.startsWith('webhook:') // the controller's key for a signed request's webhook-id
          ? 'webhook-id'
          : 'Idempotency-Key';
    if (!original) {
      throw new ProblemException(HttpStatus.CONFLICT, `This ${what} was used for lead ${jobId}, which no longer exists. Use a new key.`);
    }
    if (original.body_hash !== data.body_hash) {
      throw new ProblemException(
        HttpStatus.CONFLICT,
        `This ${what} was already used for lead ${jobId} with a different body. Send the same body to replay, or use a new key.`,
      );
    }
    return { lead_id: jobId, replayed: true };
  }

  /**
   * With SSO, a lead must name a distribution we can deliver to (the API token's, or one
   * with a connection): refused now, not accepted and failed later. The 422, or null.
   */
  async routeProblem(distributionId: string): Promise<ProblemException | null> {
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
