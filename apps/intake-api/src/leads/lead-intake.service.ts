import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JobsOptions, Queue } from 'bullmq';
import { createHash, randomUUID } from 'node:crypto';
import { IntakeAppConfig, Keyring } from '@app/config';
import { CreateLeadDto, DeliverLeadJobData, LeadBody, sealLead } from '@app/leads';
import { DELIVER_LEAD_JOB, deliveryJobOptions } from '@app/queue';
import { ProblemException } from '../common/problem';
import { withRedisTimeout } from '../common/redis-timeout';
import { SsoConnectionsService } from '../connections/sso-connections.service';
import { LEAD_QUEUE } from '../intake.tokens';

export interface Acceptance {
  lead_id: string;
  /** True when an earlier request with the same idempotency key already created the lead. */
  replayed: boolean;
}

@Injectable()
export class LeadIntakeService {
  private readonly logger = new Logger(LeadIntakeService.name);
  private readonly jobOptions: JobsOptions;
  private readonly defaultDistributionId: string;
  private readonly idempotencyTtlMs: number;
  private readonly apiTokenConfigured: boolean;
  private readonly keyring: Keyring;

  constructor(
    @Inject(LEAD_QUEUE) private readonly queue: Queue<DeliverLeadJobData>,
    config: ConfigService<IntakeAppConfig, true>,
    private readonly connections: SsoConnectionsService,
  ) {
    this.apiTokenConfigured = config.get('apiTokenConfigured', { infer: true });
    this.keyring = config.get('dataKeyring', { infer: true });
    const retention = config.get('retention', { infer: true });
    this.jobOptions = deliveryJobOptions(config.get('retry', { infer: true }), retention);
    this.defaultDistributionId = config.get('defaultDistributionId', { infer: true });
    this.idempotencyTtlMs = retention.idempotencyTtlSeconds * 1000;
  }

  /**
   * Stores the lead as a job and resolves only once Redis has acknowledged it. Idempotency
   * rides on BullMQ's deduplication, inside the same script that adds the job, so 100
   * concurrent posts of one key still make exactly one job.
   */
  async accept(dto: CreateLeadDto, source: string, idempotencyKey?: string, requestId?: string): Promise<Acceptance> {
    const distributionId = dto.distribution_id ?? this.defaultDistributionId;
    await this.requireRoute(distributionId);
    const data: DeliverLeadJobData = {
      lead_id: randomUUID(),
      source,
      distribution_id: distributionId,
      received_at: new Date().toISOString(),
      ...(requestId !== undefined ? { request_id: requestId } : {}),
      sealed_lead: sealLead(this.keyring, toLeadBody(dto)),
      // Keyed, so the digest of a small body cannot be matched against guessed names.
      body_hash: this.keyring.digest(stableStringify(dto)),
    };
    const dedupKey = idempotencyKey !== undefined ? `key:${idempotencyKey}` : derivedKey(distributionId, dto);
    const options: JobsOptions = { ...this.jobOptions, jobId: data.lead_id };
    if (dedupKey) options.deduplication = { id: sha256(`${source}\n${dedupKey}`), ttl: this.idempotencyTtlMs };

    const job = await withRedisTimeout(this.queue.add(DELIVER_LEAD_JOB, data, options), (error) =>
      this.logger.warn(`Lead not enqueued, Redis unavailable: ${error.message}`),
    );
    if (job.id === data.lead_id) return { lead_id: data.lead_id, replayed: false };

    const original = await withRedisTimeout(this.queue.getJob(job.id!));
    const what =
      idempotencyKey === undefined
        ? 'prospect.external_ref.external_ref (used as idempotency key)'
        : idempotencyKey.startsWith('webhook:') // the controller's key for a signed request's webhook-id
          ? 'webhook-id'
          : 'Idempotency-Key';
    if (!original) {
      throw new ProblemException(HttpStatus.CONFLICT, `This ${what} was used for lead ${job.id}, which no longer exists. Use a new key.`);
    }
    if (original.data.body_hash !== data.body_hash) {
      throw new ProblemException(
        HttpStatus.CONFLICT,
        `This ${what} was already used for lead ${job.id} with a different body. Send the same body to replay, or use a new key.`,
      );
    }
    return { lead_id: original.id!, replayed: true };
  }

  /**
   * With SSO, a lead must name a distribution we can deliver to (the API token's, or one
   * with a connection): refused now, not accepted and failed later.
   */
  private async requireRoute(distributionId: string): Promise<void> {
    if (!this.connections.enabled) return;
    if (this.apiTokenConfigured && distributionId === this.defaultDistributionId) return;
    if (await this.connections.hasConnection(distributionId)) return;
    const message = `no WeGroup connection for distribution "${distributionId}": a broker of that distribution must connect first (GET /v1/connections/sso/start)`;
    throw new ProblemException(HttpStatus.UNPROCESSABLE_ENTITY, `Cannot accept this lead: ${message}.`, [{ field: 'distribution_id', message }]);
  }
}

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

/** Key order does not make two bodies different. */
function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${stableStringify((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
