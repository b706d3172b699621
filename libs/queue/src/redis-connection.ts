import { Logger } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { RedisConfig } from '@app/config';

export type RedisRole = 'producer' | 'worker';

/**
 * Connection settings follow BullMQ's production guidance:
 * - producers (the intake) fail fast: no offline queue and one retry per command, so a
 *   request gets a 503 at once instead of hanging while Redis is away;
 * - workers wait for Redis forever (`maxRetriesPerRequest: null`) and reconnect on their own.
 */
export function redisOptions(role: RedisRole): RedisOptions {
  const common: RedisOptions = {
    connectTimeout: 2_000,
    // Reconnect quickly at first, then every 2 s; never give up.
    retryStrategy: (times) => Math.min(times * 100, 2_000),
  };
  return role === 'producer'
    ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1 }
    : { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null };
}

export function createRedis(config: RedisConfig, role: RedisRole, name: string): Redis {
  const logger = new Logger(`Redis:${name}`);
  const client = new Redis(config.url, { ...redisOptions(role), connectionName: name });
  let lastError = '';
  // An unhandled 'error' event would crash the process; log each distinct failure once.
  client.on('error', (error: Error) => {
    if (error.message !== lastError) logger.warn(`Redis connection problem: ${error.message}`);
    lastError = error.message;
  });
  client.on('ready', () => {
    if (lastError) logger.log('Redis connection restored');
    lastError = '';
  });
  return client;
}

/** Warns loudly when Redis may evict keys: an evicted job is a lost lead. */
export async function checkEvictionPolicy(client: Redis, logger: Logger): Promise<void> {
  try {
    const reply = (await client.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply?.[1];
    if (policy && policy !== 'noeviction') {
      logger.warn(
        `Redis maxmemory-policy is "${policy}", not "noeviction": under memory pressure Redis may delete queued leads. Set maxmemory-policy noeviction.`,
      );
    }
  } catch {
    // CONFIG may be disabled (managed Redis); nothing to check then.
  }
}
