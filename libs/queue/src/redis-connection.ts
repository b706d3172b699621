import { Logger } from '@nestjs/common';
import Redis, { Cluster, ClusterOptions, RedisOptions } from 'ioredis';
import { RedisConfig } from './redis.config';

export type RedisRole = 'producer' | 'worker';

/** A connection to Redis, whatever its topology: one server, a Sentinel-managed primary, or a Cluster. */
export type RedisClient = Redis | Cluster;

/** Reconnect quickly at first, then every 2 s; never give up. */
const reconnectDelay = (times: number): number => Math.min(times * 100, 2_000);

/**
 * Connection settings follow BullMQ's production guidance:
 * - producers (the intake) fail fast: no offline queue and one retry per command, so a
 *   request gets a 503 at once instead of hanging while Redis is away;
 * - workers wait for Redis forever (`maxRetriesPerRequest: null`) and reconnect on their own.
 */
export function redisOptions(role: RedisRole): RedisOptions {
  const common: RedisOptions = {
    connectTimeout: 2_000,
    retryStrategy: reconnectDelay,
  };
  return role === 'producer'
    ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1 }
    : { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null };
}

/**
 * A Cluster takes the same guidance: per-node options go in `redisOptions` (ioredis leaves
 * `enableOfflineQueue` and `retryStrategy` to the cluster level), and the cluster itself
 * reconnects forever, refreshing its slot map after a failover.
 */
export function clusterOptions(role: RedisRole, config: Pick<RedisConfig, 'password' | 'tls'>, name: string): ClusterOptions {
  const { enableOfflineQueue, retryStrategy: _perNode, ...node } = redisOptions(role);
  return {
    enableOfflineQueue,
    clusterRetryStrategy: reconnectDelay,
    // After a failover the new primary is found by a slot refresh; wait a little for it.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2_000,
    slotsRefreshInterval: 5_000,
    redisOptions: {
      ...node,
      connectionName: name,
      ...(config.password ? { password: config.password } : {}),
      ...(config.tls ? { tls: {} } : {}),
    },
  };
}

/** Sentinel-managed primary: ioredis asks the Sentinels for it and follows `+switch-master`. */
export function sentinelOptions(role: RedisRole, config: RedisConfig & { topology: { kind: 'sentinel' } }, name: string): RedisOptions {
  return {
    ...redisOptions(role),
    connectionName: name,
    sentinels: config.topology.sentinels,
    name: config.topology.name,
    // Ask the Sentinels again, quickly at first, whenever none answers; never give up.
    sentinelRetryStrategy: reconnectDelay,
    // After a failover the old primary turns replica; reconnect to the new one on READONLY.
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
    // No failoverDetector: in ioredis 6.0 a +switch-master that arrives while the client is
    // reconnecting ends the client for good. A killed primary drops its connections and a
    // demoted one answers READONLY (above), which is enough to find the new primary.
    sentinelReconnectStrategy: reconnectDelay,
    ...(config.password ? { password: config.password } : {}),
    // TLS to the Sentinels (sentinelTLS) and to the primary they name (tls + enableTLSForSentinelMode).
    ...(config.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
  };
}

export function createRedis(config: RedisConfig, role: RedisRole, name: string): RedisClient {
  const logger = new Logger(`Redis:${name}`);
  const { topology } = config;
  let client: RedisClient;
  if (topology.kind === 'cluster') {
    client = new Cluster(topology.nodes, clusterOptions(role, config, name));
  } else if (topology.kind === 'sentinel') {
    client = new Redis(sentinelOptions(role, { ...config, topology }, name));
  } else {
    client = new Redis(topology.url, {
      ...redisOptions(role),
      connectionName: name,
      ...(config.password ? { password: config.password } : {}),
    });
  }
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

/** The servers holding data: each primary of a Cluster, else the one connection. */
export function primaries(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/**
 * Warns loudly at startup when Redis may lose queued leads: it may evict keys (an evicted job
 * is a lost lead), or it has no AOF (a restart loses what was accepted since the last snapshot).
 */
export async function checkRedisDurability(client: RedisClient, logger: Logger): Promise<void> {
  if (client.status !== 'ready') {
    // A Cluster knows its nodes once ready, and the intake's client queues nothing while
    // offline (its CONFIG GET would fail at once); a client closed meanwhile has none to check.
    const ready = await new Promise<boolean>((resolve) => {
      client.once('ready', () => resolve(true));
      client.once('end', () => resolve(false));
    });
    if (!ready) return;
  }
  const settings = await Promise.all(
    primaries(client).map(async (node) => ({ policy: await configValue(node, 'maxmemory-policy'), aof: await configValue(node, 'appendonly') })),
  );
  const policy = settings.find((s) => s.policy && s.policy !== 'noeviction')?.policy;
  if (policy) {
    logger.warn(
      `Redis maxmemory-policy is "${policy}", not "noeviction": under memory pressure Redis may delete queued leads. Set maxmemory-policy noeviction.`,
    );
  }
  if (settings.some((s) => s.aof === 'no')) {
    logger.warn(
      'Redis appendonly is "no": a Redis restart loses the leads accepted since its last snapshot, though each was answered 202. Set appendonly yes.',
    );
  }
}

async function configValue(node: Redis, name: string): Promise<string | undefined> {
  try {
    const reply = (await node.config('GET', name)) as string[];
    return reply?.[1];
  } catch {
    // CONFIG may be disabled (managed Redis); nothing to check then.
    return undefined;
  }
}
