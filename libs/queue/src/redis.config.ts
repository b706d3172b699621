import { ConfigError, Env, integer, list, oneOf, optionalString, string, url } from '@app/config';
import { configNamespace } from '@app/config/config-namespace';

export interface RedisNode {
  host: string;
  port: number;
}

/**
 * Where Redis is: one server (REDIS_URL), a Redis Cluster (REDIS_CLUSTER_NODES, its seed
 * nodes) or a primary watched by Sentinels (REDIS_SENTINELS and REDIS_SENTINEL_NAME).
 */
export type RedisTopology =
  | { kind: 'standalone'; url: string }
  | { kind: 'cluster'; nodes: RedisNode[] }
  | { kind: 'sentinel'; sentinels: RedisNode[]; name: string };

export interface RedisConfig {
  topology: RedisTopology;
  /** REDIS_PASSWORD: for the data nodes (a password in REDIS_URL takes precedence). */
  password: string | null;
  /** REDIS_TLS: TLS to the cluster nodes, or to the Sentinels and the primary (REDIS_URL uses rediss:). */
  tls: boolean;
  /** Raw QUEUE_PREFIX; the key prefix actually used is wrapped in a Cluster hash tag. */
  queuePrefix: string;
  /**
   * REDIS_WAIT_REPLICAS: the intake answers 202 only once this many replicas acknowledged the
   * lead (Redis WAIT after each bulk); 0 = off, the primary's acknowledgement is enough.
   */
  waitReplicas: number;
  /** REDIS_WAIT_TIMEOUT_MS: how long WAIT may take before the leads are answered 503 instead. */
  waitTimeoutMs: number;
}

const PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function readRedisConfig(env: Env): RedisConfig {
  const queuePrefix = string(env, 'QUEUE_PREFIX', 'wg');
  if (!PREFIX_PATTERN.test(queuePrefix)) {
    throw new ConfigError('QUEUE_PREFIX', 'may hold only letters, digits, "_", "." and "-" (at most 64)');
  }
  const topology = readRedisTopology(env);
  const waitReplicas = integer(env, 'REDIS_WAIT_REPLICAS', 0, 0, 16);
  const waitTimeoutMs = integer(env, 'REDIS_WAIT_TIMEOUT_MS', 500, 10, 10_000);
  // WAIT counts the replicas of the node it is sent to, for the writes of that connection; a
  // Cluster client sends a keyless command to any node, so it would prove nothing there.
  if (topology.kind === 'cluster' && waitReplicas > 0) {
    throw new ConfigError(
      'REDIS_WAIT_REPLICAS',
      'is not supported with REDIS_CLUSTER_NODES (WAIT applies per node and connection): unset one of REDIS_WAIT_REPLICAS and REDIS_CLUSTER_NODES, and use min-replicas-to-write on the cluster nodes instead',
    );
  }
  return {
    topology,
    password: optionalString(env, 'REDIS_PASSWORD') ?? null,
    tls: oneOf(env, 'REDIS_TLS', ['true', 'false'] as const, 'false') === 'true',
    queuePrefix,
    waitReplicas,
    waitTimeoutMs,
  };
}

const TOPOLOGY_VARIABLES = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const;

function readRedisTopology(env: Env): RedisTopology {
  const set = TOPOLOGY_VARIABLES.filter((name) => optionalString(env, name) !== undefined);
  if (set.length > 1) {
    const others = set.slice(1).join(' and ');
    throw new ConfigError(set[0], `and ${others} are ${set.length > 2 ? 'all' : 'both'} set: choose one Redis topology (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS)`);
  }
  if (optionalString(env, 'REDIS_SENTINEL_NAME') !== undefined && set[0] !== 'REDIS_SENTINELS') {
    throw new ConfigError('REDIS_SENTINEL_NAME', 'is set but REDIS_SENTINELS is not: list the Sentinels as host:port');
  }
  switch (set[0]) {
    case 'REDIS_CLUSTER_NODES':
      return { kind: 'cluster', nodes: hostPorts(env, 'REDIS_CLUSTER_NODES') };
    case 'REDIS_SENTINELS': {
      const sentinels = hostPorts(env, 'REDIS_SENTINELS');
      const name = optionalString(env, 'REDIS_SENTINEL_NAME');
      if (name === undefined) throw new ConfigError('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS: the name of the monitored primary');
      if (!/^[A-Za-z0-9_.-]{1,128}$/.test(name)) throw new ConfigError('REDIS_SENTINEL_NAME', 'may hold only letters, digits, "_", "." and "-"');
      return { kind: 'sentinel', sentinels, name };
    }
    default:
      if (optionalString(env, 'REDIS_TLS') === 'true') {
        throw new ConfigError('REDIS_TLS', 'applies to REDIS_CLUSTER_NODES and REDIS_SENTINELS; for REDIS_URL use a rediss: URL');
      }
      return { kind: 'standalone', url: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']) };
  }
}

const HOST_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?)$/;

/** A comma-separated list of host:port (an IPv6 address in brackets: [::1]:6379). */
function hostPorts(env: Env, name: string): RedisNode[] {
  const entries = list(env, name);
  if (entries.length === 0) throw new ConfigError(name, 'must list at least one host:port');
  return entries.map((entry) => {
    // Never echo an entry that carries credentials; they belong in REDIS_PASSWORD.
    if (entry.includes('@') || entry.includes('/')) {
      throw new ConfigError(name, 'must be comma-separated host:port entries, without a scheme or credentials (use REDIS_PASSWORD)');
    }
    const colon = entry.lastIndexOf(':');
    const host = colon > 0 ? entry.slice(0, colon) : '';
    const port = colon > 0 ? entry.slice(colon + 1) : '';
    if (!HOST_PATTERN.test(host) || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw new ConfigError(name, `has an invalid entry "${entry}" (expected host:port, e.g. 10.0.0.5:6379)`);
    }
    return { host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(port) };
  });
}

/** REDIS_*, QUEUE_PREFIX: where the queue lives, read by both apps. */
export const redisConfig = configNamespace('redis', readRedisConfig);
