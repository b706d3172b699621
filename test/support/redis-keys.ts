import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { keyPrefix } from '@app/queue';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A QUEUE_PREFIX no other test file or developer uses. */
export function uniqueQueuePrefix(name: string): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`;
}

/** Deletes only the keys under this test's prefix: Redis is shared, so never a whole-database flush. */
export async function deleteKeys(queuePrefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix(queuePrefix)}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
