import { Inject, Injectable } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import type { FastifyInstance } from 'fastify';
import { Counter, Registry } from 'prom-client';
import { intakeConfig } from '../intake.config';
import { createMetricsRegistry, METRIC_PREFIX, registerQueueGauges } from '@app/observability';
import { CircuitBreaker, LeadsQueue } from '@app/queue';
import { BREAKER_STATE } from '../intake.tokens';
import { LEAD_BATCH_ROUTE } from '../leads/lead-batch';

/** Why a `POST /v1/leads` was refused, from its answer's status. */
export function rejectionReason(statusCode: number): string {
  switch (statusCode) {
    case 400:
      return 'validation';
    case 401:
      return 'auth';
    case 403:
      return 'forbidden';
    case 409:
      return 'conflict';
    case 413:
      return 'too_large';
    case 415:
      return 'unsupported_media';
    case 422:
      return 'no_route';
    case 429:
      return 'rate_limited';
    case 503:
      return 'unavailable';
    default:
      return statusCode >= 500 ? 'error' : 'other';
  }
}

/** Label for requests refused before their source was known (no or wrong API key, early 413/415). */
export const UNKNOWN_SOURCE = 'unknown';

const LEAD_ROUTE = '/v1/leads';

/** What POST /v1/leads/batch leaves on its request for the metrics: each lead's status, in order. */
export interface LeadBatchStatuses {
  leadBatchStatuses?: number[];
}

/**
 * Every metric the intake exposes at `GET /metrics`, in one place: accepted and rejected
 * leads (counters, by source and reason), queue depth and circuit-breaker state (read from
 * Redis at scrape time), and the default process metrics.
 */
@Injectable()
export class IntakeMetrics {
  readonly registry: Registry = createMetricsRegistry();

  readonly accepted = new Counter({
    name: `${METRIC_PREFIX}intake_accepted_total`,
    help: 'Leads accepted by POST /v1/leads and /v1/leads/batch (each lead of a batch counts), by source; replayed="true" for idempotent repeats (nothing enqueued).',
    labelNames: ['source', 'replayed'] as const,
    registers: [this.registry],
  });

  readonly rejected = new Counter({
    name: `${METRIC_PREFIX}intake_rejected_total`,
    help: 'Leads refused by POST /v1/leads and /v1/leads/batch, by reason (validation, auth, too_large, unsupported_media, conflict, no_route, rate_limited, unavailable, …) and source. A batch refused as a whole counts once.',
    labelNames: ['reason', 'source'] as const,
    registers: [this.registry],
  });

  readonly replicaWaitShortfalls = new Counter({
    name: `${METRIC_PREFIX}intake_redis_wait_shortfalls_total`,
    help: 'Bulks of leads stored by the Redis primary but not confirmed by REDIS_WAIT_REPLICAS replicas within REDIS_WAIT_TIMEOUT_MS (or WAIT failed); each of their leads was answered 503. Stays 0 when REDIS_WAIT_REPLICAS is 0.',
    registers: [this.registry],
  });

  constructor(
    @Inject(LeadsQueue) queue: Pick<LeadsQueue, 'getJobCounts'>,
    @Inject(BREAKER_STATE) breaker: Pick<CircuitBreaker, 'state'>,
    @Inject(intakeConfig.KEY) intake: ConfigType<typeof intakeConfig>,
  ) {
    registerQueueGauges(this.registry, queue, breaker);
    // Every known source shows up from the start, so rates work from the first lead.
    for (const source of new Set(intake.apiKeys.values())) {
      this.accepted.inc({ source, replayed: 'false' }, 0);
      this.accepted.inc({ source, replayed: 'true' }, 0);
    }
  }

  /** Counts one answered `POST /v1/leads`. */
  observeLeadPost(statusCode: number, source: string | undefined): void {
    const labelSource = source ?? UNKNOWN_SOURCE;
    if (statusCode === 202 || statusCode === 200) this.accepted.inc({ source: labelSource, replayed: String(statusCode === 200) });
    else if (statusCode >= 400) this.rejected.inc({ reason: rejectionReason(statusCode), source: labelSource });
  }

  /**
   * Counts lead posts from their answers, whoever gave them: a guard, the validation pipe, a
   * Fastify hook (415), the body parser (413) or the handler.
   */
  attach(fastify: FastifyInstance): void {
    fastify.addHook('onResponse', async (request, reply) => {
      if (request.method !== 'POST') return;
      const source = (request as { source?: string }).source;
      if (request.routeOptions.url === LEAD_ROUTE) this.observeLeadPost(reply.statusCode, source);
      else if (request.routeOptions.url === LEAD_BATCH_ROUTE) {
        // A 207 answers each lead on its own; any other status refused the whole batch.
        const statuses = (request as LeadBatchStatuses).leadBatchStatuses;
        if (reply.statusCode === 207 && statuses) for (const status of statuses) this.observeLeadPost(status, source);
        else this.observeLeadPost(reply.statusCode, source);
      }
    });
  }
}
