import Redis, { Cluster, RedisOptions } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { readRedisConfig } from '@app/queue';
import { keyPrefix, primaries, RedisClient } from '@app/queue';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The variables that say where Redis is (one of REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS). */
type RedisTopologyEnv = Partial<Record<'REDIS_URL' | 'REDIS_CLUSTER_NODES' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_PASSWORD', string>>;

/** The shared test Redis (REDIS_URL) unless `env` names a Cluster or Sentinels. */
export function redisTopologyEnv(env: Record<string, string | undefined> = {}): Record<string, string> {
  const pick = (name: keyof RedisTopologyEnv): Record<string, string> => (env[name] ? { [name]: env[name] } : {});
  if (env.REDIS_CLUSTER_NODES || env.REDIS_SENTINELS) {
    return { ...pick('REDIS_CLUSTER_NODES'), ...pick('REDIS_SENTINELS'), ...pick('REDIS_SENTINEL_NAME'), ...pick('REDIS_PASSWORD') };
  }
  return { REDIS_URL: env.REDIS_URL ?? REDIS_URL, ...pick('REDIS_PASSWORD') };
}

/** A plain client (no app settings) for whatever topology `env` names: the shared test Redis by default. */
export function connectRedis(env: Record<string, string | undefined> = {}, options: RedisOptions = {}): RedisClient {
  const { topology, password } = readRedisConfig(redisTopologyEnv(env));
  const auth = password ? { password } : {};
  switch (topology.kind) {
    case 'cluster':
      return new Cluster(topology.nodes, { redisOptions: { ...auth, ...options } });
    case 'sentinel':
      return new Redis({ ...auth, ...options, sentinels: topology.sentinels, name: topology.name });
    default:
      return new Redis(topology.url, { ...auth, ...options });
  }
}

/** Resolves once a Cluster is ready (it knows its primaries only then); a single server queues commands until it is. */
export async function ready(client: RedisClient): Promise<RedisClient> {
  if (!(client instanceof Cluster) || client.status === 'ready') return client;
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('end', () => reject(new Error('Redis connection ended before it was ready')));
  });
  return client;
}

/** Every key under this prefix, on every primary (SCAN covers one server only, so a Cluster is scanned node by node). */
export async function scanKeys(client: RedisClient, pattern: string): Promise<string[]> {
  await ready(client);
  const found: string[] = [];
  for (const node of primaries(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

/** A QUEUE_PREFIX no other test file or developer uses. */
export function uniqueQueuePrefix(name: string): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`;
}

/**
 * Deletes only the keys under this test's prefix: Redis is shared, so never a whole-database
 * flush. `env` names the topology (the shared test Redis by default).
 */
export async function deleteKeys(queuePrefix: string, env: Record<string, string | undefined> = {}): Promise<number> {
  const redis = connectRedis(env, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  let deleted = 0;
  try {
    await ready(redis);
    for (const node of primaries(redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${keyPrefix(queuePrefix)}:*`, 'COUNT', 1000);
        cursor = next;
        // All of them share the prefix's hash tag, so one UNLINK on the node that holds them is never CROSSSLOT.
        if (keys.length) deleted += await node.unlink(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}
