import type { RedisClient } from './redis-connection';
import { keyPrefix, LEADS_QUEUE } from './queue.constants';

export type BreakerStateName = 'closed' | 'open' | 'half_open';

export interface BreakerState {
  state: BreakerStateName;
  consecutive_failures: number;
  opened_at: string | null;
  /** While open: when the cool-down ends and one probe delivery may go. */
  open_until: string | null;
}

/** May a delivery go? When not, how the circuit stands: the delivery policy decides how long to wait. */
export type Admission = { ok: true; probe: boolean } | { ok: false; state: 'open'; remainingMs: number } | { ok: false; state: 'half_open' };

/** How long a worker trusts its last read of the shared state. */
const CACHE_MS = 250;

/**
 * A circuit breaker shared by every worker through Redis. After `threshold` consecutive
 * transient failures (an outage, not one bad lead) deliveries pause for a cool-down; then
 * exactly one probe delivery goes: success closes the circuit, failure opens it again.
 * Leads held back are rate-limited by BullMQ, so they keep their attempts: an outage of
 * an hour does not burn every lead's retry budget in minutes.
 */
export class CircuitBreaker {
  readonly key: string;
  private readonly probeKey: string;
  private cached?: { at: number; raw: Record<string, string> };

  constructor(
    private readonly redis: RedisClient,
    queuePrefix: string,
    private readonly options: { threshold: number; cooldownMs: number },
    private readonly now: () => number = Date.now,
    /**
     * Which breaker, under the prefix: WeGroup's by default; a CRM's events endpoint has one
     * of its own (e.g. `lead-events:breaker:<endpoint digest>`), so one dead endpoint holds
     * back only its own events.
     */
    name = `${LEADS_QUEUE}:breaker`,
  ) {
    this.key = `${keyPrefix(queuePrefix)}:${name}`;
    this.probeKey = `${this.key}:probe`;
  }

  /** For processes that only show the state (the intake): thresholds are the workers' business. */
  static reader(redis: RedisClient, queuePrefix: string): Pick<CircuitBreaker, 'state'> {
    return new CircuitBreaker(redis, queuePrefix, { threshold: Infinity, cooldownMs: 0 });
  }

  async state(): Promise<BreakerState> {
    return this.describe(await this.redis.hgetall(this.key));
  }

  /** Before a delivery: may it go to WeGroup, and is it the probe? */
  async admit(): Promise<Admission> {
    const raw = await this.raw();
    const openUntil = Number(raw.open_until ?? 0);
    if (!openUntil) return { ok: true, probe: false };
    const remaining = openUntil - this.now();
    if (remaining > 0) return { ok: false, state: 'open', remainingMs: remaining };
    const probe = await this.redis.set(this.probeKey, '1', 'PX', this.options.cooldownMs, 'NX');
    return probe ? { ok: true, probe: true } : { ok: false, state: 'half_open' };
  }

  async recordSuccess(): Promise<void> {
    const raw = await this.raw();
    if (!raw.open_until && !Number(raw.failures ?? 0)) return;
    await this.redis.multi().hset(this.key, 'failures', 0).hdel(this.key, 'opened_at', 'open_until').del(this.probeKey).exec();
    this.cached = undefined;
  }

  /** Counts a transient failure; returns the cool-down when this failure opened the circuit. */
  async recordFailure(probe: boolean): Promise<number | null> {
    const failures = await this.redis.hincrby(this.key, 'failures', 1);
    this.cached = undefined;
    if (!probe && failures < this.options.threshold) return null;
    const now = this.now();
    await this.redis
      .multi()
      .hset(this.key, 'opened_at', now, 'open_until', now + this.options.cooldownMs)
      .del(this.probeKey)
      .exec();
    return this.options.cooldownMs;
  }

  private async raw(): Promise<Record<string, string>> {
    const now = this.now();
    if (!this.cached || now - this.cached.at > CACHE_MS) this.cached = { at: now, raw: await this.redis.hgetall(this.key) };
    return this.cached.raw;
  }

  private describe(raw: Record<string, string>): BreakerState {
    const openUntil = Number(raw.open_until ?? 0);
    const state: BreakerStateName = !openUntil ? 'closed' : openUntil > this.now() ? 'open' : 'half_open';
    return {
      state,
      consecutive_failures: Number(raw.failures ?? 0),
      opened_at: raw.opened_at ? new Date(Number(raw.opened_at)).toISOString() : null,
      open_until: openUntil ? new Date(openUntil).toISOString() : null,
    };
  }
}
