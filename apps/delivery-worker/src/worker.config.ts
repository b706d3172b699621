import { Provider } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { Env, integer, oneOf } from '@app/config';
import { configNamespace, provideConfig } from '@app/config/config-namespace';
import { dataKeyringConfig } from '@app/leads';
import { LogLevelName, readLogLevel } from '@app/observability';
import { redisConfig } from '@app/queue';
import { readRetryConfig, retentionConfig, RetryConfig } from '@app/leads';
import { ssoConfig, weGroupConfig } from '@app/wegroup';
import { SourceRegistry, sourcesConfig } from '@app/sources';
import { EventEndpoints, eventsConfig } from '@app/events';

export interface DeliveryConfig {
  concurrency: number;
  retry: RetryConfig & {
    /** A 429 pauses deliveries without spending an attempt, up to this much waiting per lead. */
    maxRateLimitWaitMs: number;
  };
  /** BullMQ lock; a worker that dies loses its jobs to another after about this long. */
  lockMs: number;
  /** On SIGTERM, in-flight deliveries get this long to finish before the worker lets go. */
  shutdownTimeoutMs: number;
  breaker: { threshold: number; cooldownMs: number };
  /**
   * ALLOW_HTTP_URLS, read as the intake reads it: a lead mapped from a native event obeys the
   * same URL rule (`backref`, `callbacks`) as a lead posted in WeGroup's shape.
   */
  allowHttpUrls: boolean;
}

export function readDeliveryConfig(env: Env): DeliveryConfig {
  return {
    concurrency: integer(env, 'WORKER_CONCURRENCY', 50, 1, 1000),
    retry: { ...readRetryConfig(env), maxRateLimitWaitMs: integer(env, 'RATE_LIMIT_MAX_WAIT_SECONDS', 6 * 3600, 0, 7 * 86_400) * 1000 },
    lockMs: integer(env, 'DELIVERY_LOCK_MS', 30_000, 1_000, 600_000),
    shutdownTimeoutMs: integer(env, 'WORKER_SHUTDOWN_TIMEOUT_MS', 25_000, 0, 600_000),
    breaker: {
      threshold: integer(env, 'CIRCUIT_BREAKER_THRESHOLD', 20, 1, 100_000),
      cooldownMs: integer(env, 'CIRCUIT_BREAKER_COOLDOWN_MS', 60_000, 100, 3_600_000),
    },
    allowHttpUrls: oneOf(env, 'ALLOW_HTTP_URLS', ['true', 'false'] as const, 'false') === 'true',
  };
}

/** WORKER_*, DELIVERY_*, CIRCUIT_BREAKER_*, RATE_LIMIT_MAX_WAIT_SECONDS, ALLOW_HTTP_URLS: how the worker delivers. */
export const deliveryConfig = configNamespace('delivery', readDeliveryConfig);

/** Everything the worker reads, by owner. */
export interface WorkerAppConfig {
  redis: ConfigType<typeof redisConfig>;
  wegroup: ConfigType<typeof weGroupConfig>;
  delivery: ConfigType<typeof deliveryConfig>;
  sso: ConfigType<typeof ssoConfig>;
  dataKeyring: ConfigType<typeof dataKeyringConfig>;
  retention: ConfigType<typeof retentionConfig>;
  /** SOURCES_FILE and the platforms' API URLs: the worker fetches records and maps native events. */
  sources: ConfigType<typeof sourcesConfig>;
  /** The file's sources (the worker never sees INTAKE_API_KEYS's, whose leads need no mapping). */
  registry: SourceRegistry;
  /** SOURCE_EVENTS …, EVENTS_*: the worker emits lead.delivered/failed/retrying and sends every event. */
  events: ConfigType<typeof eventsConfig>;
  /** Each source's events endpoint, from the file or SOURCE_EVENTS. */
  endpoints: EventEndpoints;
}

/** Reads and validates every namespace from an env record (process.env at boot, a test's own record). */
export function readWorkerAppConfig(env: Env): WorkerAppConfig {
  const sources = sourcesConfig(env);
  const registry = new SourceRegistry(sources.sources);
  const events = eventsConfig(env);
  // A source given an events endpoint both in SOURCES_FILE and SOURCE_EVENTS stops boot here.
  const endpoints = new EventEndpoints(registry, events, { everySource: false });
  return {
    redis: redisConfig(env),
    wegroup: weGroupConfig(env),
    delivery: deliveryConfig(env),
    sso: ssoConfig(env),
    dataKeyring: dataKeyringConfig(env),
    retention: retentionConfig(env),
    sources,
    registry,
    events,
    endpoints,
  };
}

export function workerConfigProviders(config: WorkerAppConfig): Provider[] {
  return [
    provideConfig(redisConfig, config.redis),
    provideConfig(weGroupConfig, config.wegroup),
    provideConfig(deliveryConfig, config.delivery),
    provideConfig(ssoConfig, config.sso),
    provideConfig(dataKeyringConfig, config.dataKeyring),
    provideConfig(retentionConfig, config.retention),
    provideConfig(sourcesConfig, config.sources),
    provideConfig(eventsConfig, config.events),
  ];
}

/** Port of the worker's metrics and health endpoints (the intake serves /metrics on its own port). */
export const DEFAULT_METRICS_PORT = 9464;

export interface WorkerObservabilityConfig {
  logLevel: LogLevelName;
  metricsPort: number;
}

export function readWorkerObservabilityConfig(env: Env): WorkerObservabilityConfig {
  return { logLevel: readLogLevel(env), metricsPort: integer(env, 'METRICS_PORT', DEFAULT_METRICS_PORT, 1, 65535) };
}
