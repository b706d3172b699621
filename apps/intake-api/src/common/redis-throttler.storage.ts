import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { RedisClient } from '@app/queue';
import { keyPrefix, withTimeout } from '@app/queue';

/** A throttle check may not hold a request up longer than this; past it, the request passes. */
export const THROTTLE_TIMEOUT_MS = 250;

/**
 * One fixed window per key, counted in Redis so every intake instance shares it.
 * KEYS[1] counts hits in the window, KEYS[2] marks a block; ARGV: window ms, limit, block ms,
 * and how many hits to count (the requests of one turn, see OncePerTurn).
 * Returns the hits after counting, the window's remaining ms, and the ms left of a block that
 * was already in place (0: none; nothing was counted then). When the count goes over the limit
 * and there is a block duration, the block is set and the window starts again after it.
 */
const INCREMENT_SCRIPT = `
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then
  return { tonumber(redis.call('GET', KEYS[1]) or '0'), math.max(redis.call('PTTL', KEYS[1]), 0), blocked }
end
local hits = redis.call('INCRBY', KEYS[1], ARGV[4])
local remaining = redis.call('PTTL', KEYS[1])
if remaining < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  remaining = tonumber(ARGV[1])
end
if hits > tonumber(ARGV[2]) and tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
end
return { hits, remaining, 0 }
`;

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;
type IncrementReply = [hits: number, windowMs: number, blockedMs: number];
type ThrottleRedis = RedisClient & {
  intakeThrottleCount(counter: string, block: string, windowMs: number, limit: number, blockMs: number, hits: number): Promise<IncrementReply>;
};

/** The reply to a question, with the asker's place among the turn's `askers`. */
interface Answer<Reply> {
  reply: Reply;
  position: number;
  askers: number;
}

interface Asker<Reply> {
  resolve(answer: Answer<Reply>): void;
  reject(error: unknown): void;
}

/**
 * The same question asked of Redis by many requests in one event-loop turn is asked once: the
 * first asker's question goes out when the turn's I/O callbacks have all run (setImmediate),
 * told how many asked; each asker gets the reply with its place among them. Under load a
 * turn holds many requests of the same source, and each cost a Redis command and a socket
 * write of its own (8% of the intake's CPU under load).
 */
class OncePerTurn<Reply> {
  private turn = new Map<string, { ask: (askers: number) => Promise<Reply>; askers: Array<Asker<Reply>> }>();
  private scheduled = false;

  ask(key: string, ask: (askers: number) => Promise<Reply>): Promise<Answer<Reply>> {
    let question = this.turn.get(key);
    if (!question) this.turn.set(key, (question = { ask, askers: [] }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    const { askers } = question;
    return new Promise((resolve, reject) => askers.push({ resolve, reject }));
  }

  private flush(): void {
    const turn = this.turn;
    this.turn = new Map();
    this.scheduled = false;
    for (const { ask, askers } of turn.values()) {
      Promise.resolve()
        .then(() => ask(askers.length))
        .then(
          (reply) => askers.forEach((asker, position) => asker.resolve({ reply, position, askers: askers.length })),
          (error: unknown) => askers.forEach((asker) => asker.reject(error)),
        );
    }
  }
}

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

  private readonly counts = new OncePerTurn<IncrementReply>();
  private readonly blocks = new OncePerTurn<number>();

  constructor(redis: RedisClient, queuePrefix: string) {
    if (!('intakeThrottleCount' in redis)) {
      redis.defineCommand('intakeThrottleCount', { numberOfKeys: 2, lua: INCREMENT_SCRIPT });
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

  /**
   * As `increment`, but a Redis that does not answer within `timeoutMs` is an error: for callers
   * that fail closed. The hits of one turn on the same key are counted together, each request
   * getting the count it would have got alone, in the order they asked.
   */
  async incrementOrThrow(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
    timeoutMs: number,
  ): Promise<ThrottlerStorageRecord> {
    const counter = `${this.prefix}:${throttlerName}:${key}`;
    const count = async (hits: number) => {
      await this.firstConnection;
      return this.redis.intakeThrottleCount(counter, `${counter}:blocked`, ttl, limit, blockDuration, hits);
    };
    const { reply, position, askers } = await withTimeout(this.counts.ask(`${counter}\n${ttl}\n${limit}\n${blockDuration}`, count), timeoutMs);
    const [hits, windowMs, blockedMs] = reply;
    if (blockedMs > 0) return { totalHits: hits, timeToExpire: seconds(windowMs), isBlocked: true, timeToBlockExpire: Math.max(1, seconds(blockedMs)) };
    const totalHits = hits - askers + position + 1;
    if (totalHits <= limit) return { totalHits, timeToExpire: seconds(windowMs), isBlocked: false, timeToBlockExpire: 0 };
    return { totalHits, timeToExpire: seconds(windowMs), isBlocked: true, timeToBlockExpire: Math.max(1, seconds(blockDuration > 0 ? blockDuration : windowMs)) };
  }

  /** Seconds left of the key's block (0: not blocked), without counting a hit. Throws when Redis does not answer. */
  async blockedFor(key: string, throttlerName: string, timeoutMs: number): Promise<number> {
    const blocked = `${this.prefix}:${throttlerName}:${key}:blocked`;
    const read = async () => {
      await this.firstConnection;
      return this.redis.pttl(blocked);
    };
    const { reply: ms } = await withTimeout(this.blocks.ask(blocked, read), timeoutMs);
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
