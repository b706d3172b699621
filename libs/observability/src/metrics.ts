import { withTimeout } from '@app/queue';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** Every metric of ours starts with this; the default process metrics keep their usual names. */
export const METRIC_PREFIX = 'wegroup_leads_';

/** A registry of the process's own (never prom-client's global one), with the default process metrics. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Queue states reported as `wegroup_leads_queue_jobs{state}`. */
export const QUEUE_DEPTH_STATES = ['waiting', 'delayed', 'active', 'failed'] as const;

/** How long a scrape waits for Redis before it reports the queue gauges as unknown (no sample). */
export const SCRAPE_REDIS_TIMEOUT_MS = 1_000;

export const BREAKER_STATE_VALUES = { closed: 0, half_open: 1, open: 2 } as const;

export interface QueueDepthSource {
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

export interface BreakerStateSource {
  state(): Promise<{ state: keyof typeof BREAKER_STATE_VALUES; consecutive_failures: number }>;
}

/**
 * Gauges read from Redis at scrape time: queue depth and the shared circuit breaker. When
 * Redis does not answer in time the gauges have no sample (rather than a stale one).
 */
export function registerQueueGauges(registry: Registry, queue: QueueDepthSource, breaker: BreakerStateSource, timeoutMs = SCRAPE_REDIS_TIMEOUT_MS): void {
  new Gauge({
    name: `${METRIC_PREFIX}queue_jobs`,
    help: 'Leads in the delivery queue by state (waiting, delayed, active, failed), read at scrape time.',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      try {
        const counts = await withTimeout(queue.getJobCounts(...QUEUE_DEPTH_STATES), timeoutMs);
        for (const state of QUEUE_DEPTH_STATES) this.set({ state }, counts[state] ?? 0);
      } catch {
        this.reset();
      }
    },
  });
  const readBreaker = () => withTimeout(breaker.state(), timeoutMs);
  new Gauge({
    name: `${METRIC_PREFIX}circuit_breaker_state`,
    help: 'Circuit breaker toward WeGroup, shared by all workers: 0 closed, 1 half_open (a probe may go), 2 open.',
    registers: [registry],
    async collect() {
      try {
        this.set(BREAKER_STATE_VALUES[(await readBreaker()).state]);
      } catch {
        this.reset();
      }
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}circuit_breaker_consecutive_failures`,
    help: 'Consecutive transient delivery failures counted by the circuit breaker (all workers).',
    registers: [registry],
    async collect() {
      try {
        this.set((await readBreaker()).consecutive_failures);
      } catch {
        this.reset();
      }
    },
  });
}
