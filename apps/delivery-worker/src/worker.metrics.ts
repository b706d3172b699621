import { Inject, Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';
import { createMetricsRegistry, METRIC_PREFIX, registerQueueGauges } from '@app/observability';
import { CircuitBreaker, LeadsQueue } from '@app/queue';
import type { RefreshObserver } from '@app/wegroup';

/**
 * What happened to one delivery attempt: the attempt outcomes of the lead's log, plus
 * `held` (the circuit is open, or the lead waits for an SSO sign-in: WeGroup was not called).
 */
export type DeliveryOutcome = 'delivered' | 'transient' | 'permanent' | 'rate_limited' | 'held';

export type TokenRefreshOutcome = Parameters<RefreshObserver>[0];

const NO_STATUS = 'none';

/**
 * Every metric the worker exposes on METRICS_PORT, in one place: deliveries by outcome and
 * WeGroup status (counter), WeGroup request latency and intake-to-delivered time
 * (histograms), circuit-breaker openings and SSO token refreshes (counters), queue depth and
 * breaker state (read from Redis at scrape time), and the default process metrics.
 */
@Injectable()
export class WorkerMetrics {
  readonly registry: Registry = createMetricsRegistry();

  readonly deliveries = new Counter({
    name: `${METRIC_PREFIX}deliveries_total`,
    help: 'Delivery attempts by outcome (delivered, transient, permanent, rate_limited, held) and WeGroup status code ("none": no answer).',
    labelNames: ['outcome', 'status_code'] as const,
    registers: [this.registry],
  });

  readonly wegroupRequestSeconds = new Histogram({
    name: `${METRIC_PREFIX}wegroup_request_duration_seconds`,
    help: 'Duration of lead pushes to WeGroup, by status code ("none": network error or timeout).',
    labelNames: ['status_code'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
    registers: [this.registry],
  });

  readonly intakeToDeliveredSeconds = new Histogram({
    name: `${METRIC_PREFIX}intake_to_delivered_seconds`,
    help: 'Time from acceptance at the intake (received_at) to delivery at WeGroup, retries included.',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 7200, 21600, 86400],
    registers: [this.registry],
  });

  readonly breakerOpened = new Counter({
    name: `${METRIC_PREFIX}circuit_breaker_opened_total`,
    help: 'Times this worker opened the circuit breaker (after repeated transient failures, or a failed probe).',
    registers: [this.registry],
  });

  readonly tokenRefreshes = new Counter({
    name: `${METRIC_PREFIX}sso_token_refreshes_total`,
    help: 'SSO access-token refreshes by outcome (refreshed, rejected, no_refresh_token, error).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor(@Inject(LeadsQueue) queue: Pick<LeadsQueue, 'getJobCounts'>, breaker: CircuitBreaker) {
    registerQueueGauges(this.registry, queue, breaker);
    this.deliveries.inc({ outcome: 'delivered', status_code: '201' }, 0);
    this.breakerOpened.inc(0);
    for (const outcome of ['refreshed', 'rejected', 'no_refresh_token', 'error'] as const) this.tokenRefreshes.inc({ outcome }, 0);
  }

  /** One attempt's outcome; a delivered lead also records how long it took since the intake accepted it. */
  delivery(outcome: DeliveryOutcome, statusCode: number | null, receivedAt?: string): void {
    this.deliveries.inc({ outcome, status_code: statusCode === null ? NO_STATUS : String(statusCode) });
    if (outcome !== 'delivered' || !receivedAt) return;
    const since = Date.parse(receivedAt);
    if (Number.isFinite(since)) this.intakeToDeliveredSeconds.observe(Math.max(0, (Date.now() - since) / 1000));
  }

  /** For WeGroupClient.pushLead's `onResponse`. */
  readonly wegroupResponse = (statusCode: number | null, durationMs: number): void => {
    this.wegroupRequestSeconds.observe({ status_code: statusCode === null ? NO_STATUS : String(statusCode) }, durationMs / 1000);
  };

  /** For SsoAuthProvider's `onRefresh`. */
  readonly tokenRefresh: RefreshObserver = (outcome) => {
    this.tokenRefreshes.inc({ outcome });
  };
}
