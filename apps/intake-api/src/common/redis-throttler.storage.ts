import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { RedisClient } from '@app/queue';
import { keyPrefix, withTimeout } from '@app/queue';

/** A throttle check may not hold a request up longer than this; past it, the request passes. */
export const THROTTLE_TIMEOUT_MS = 250;

/**
 * One fixed window per key, counted in Redis so every intake instance shares it.
 * KEYS[1] counts hits in the window, KEYS[2] marks a block; ARGV: window ms, limit, block ms.
 * Returns hits, the window's remaining ms, blocked (0/1) and the block's remaining ms.
 */
const INCREMENT_SCRIPT = `
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then
  return { tonumber(redis.call('GET', KEYS[1]) or '0'), math.max(redis.call('PTTL', KEYS[1]), 0), 1, blocked }
end
local hits = redis.call('INCR', KEYS[1])
local remaining = redis.call('PTTL', KEYS[1])
if remaining < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  remaining = tonumber(ARGV[1])
end
if hits > tonumber(ARGV[2]) then
  local block = tonumber(ARGV[3])
  if block > 0 then
    redis.call('SET', KEYS[2], '1', 'PX', block)
    redis.call('DEL', KEYS[1])
    return { hits, remaining, 1, block }
  end
  return { hits, remaining, 1, remaining }
end
return { hits, remaining, 0, 0 }
`;

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;
type IncrementReply = [number, number, number, number];
type ThrottleRedis = RedisClient & {
  intakeThrottleIncrement(counter: string, block: string, windowMs: number, limit: number, blockMs: number): Promise<IncrementReply>;
};

/**
 * `@nestjs/throttler` storage in Redis (the published Redis storage does not support Nest 12).
 * Keys live under the Cluster hash tag of QUEUE_PREFIX: `{prefix}:throttle:<name>:<tracker>`.
 * When Redis does not answer, requests pass (fail open): the lead routes then answer 503 on
 * their own, and a Redis outage never turns into 429s or 500s.
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger(RedisThrottlerStorage.name);
  private readonly redis: ThrottleRedis;
  private readonly prefix: string;
  private lastWarning = 0;
  /** Until the first connection, a check waits for it (bounded); afterwards an outage fails open at once. */
  private firstConnection?: Promise<void>;

  constructor(redis: RedisClient, queuePrefix: string) {
    if (!('intakeThrottleIncrement' in redis)) {
      redis.defineCommand('intakeThrottleIncrement', { numberOfKeys: 2, lua: INCREMENT_SCRIPT });
    }
    this.redis = redis as ThrottleRedis;
    this.prefix = `${keyPrefix(queuePrefix)}:throttle`;
    if (redis.status !== 'ready') this.firstConnection = new Promise((resolve) => redis.once('ready', () => resolve()));
    void this.firstConnection?.then(() => (this.firstConnection = undefined));
  }

  /** `ttl` and `blockDuration` in ms; the record's times in whole seconds, as the guard expects. */
  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    try {
      return await this.incrementOrThrow(key, ttl, limit, blockDuration, throttlerName, THROTTLE_TIMEOUT_MS);
    } catch (error) {
      this.warn(error as Error);
      return { totalHits: 0, timeToExpire: seconds(ttl), isBlocked: false, timeToBlockExpire: 0 };
    }
  }

  /** As `increment`, but a Redis that does not answer within `timeoutMs` is an error: for callers that fail closed. */
  async incrementOrThrow(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
    timeoutMs: number,
  ): Promise<ThrottlerStorageRecord> {
    const counter = `${this.prefix}:${throttlerName}:${key}`;
    const count = async () => {
      await this.firstConnection;
      return this.redis.intakeThrottleIncrement(counter, `${counter}:blocked`, ttl, limit, blockDuration);
    };
    const [totalHits, windowMs, blocked, blockMs] = await withTimeout(count(), timeoutMs);
    return { totalHits, timeToExpire: seconds(windowMs), isBlocked: blocked === 1, timeToBlockExpire: blocked === 1 ? Math.max(1, seconds(blockMs)) : 0 };
  }

  /** Seconds left of the key's block (0: not blocked), without counting a hit. Throws when Redis does not answer. */
  async blockedFor(key: string, throttlerName: string, timeoutMs: number): Promise<number> {
    const blocked = `${this.prefix}:${throttlerName}:${key}:blocked`;
    const read = async () => {
      await this.firstConnection;
      return this.redis.pttl(blocked);
    };
    const ms = await withTimeout(read(), timeoutMs);
    return ms > 0 ? Math.max(1, seconds(ms)) : 0;
  }

  private warn(error: Error): void {
    // At most one line a minute: during an outage every request would otherwise log.
    if (Date.now() - this.lastWarning < 60_000) return;
    this.lastWarning = Date.now();
    this.logger.warn(`Rate limiting is suspended while Redis does not answer: ${error.message}`);
  }
}

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
