import { DynamicModule, Logger, Module } from '@nestjs/common';
import type { RedisClient } from '@app/queue';
import { LeadRepository } from '@app/leads';
import { CircuitBreaker, LEAD_EVENTS_QUEUE, LEADS_QUEUE, LeadQueueModule, REDIS_CONNECTION } from '@app/queue';
import { EventsModule } from '@app/events';
import { RepeatedErrorLog } from '@app/observability';
import {
  ApiTokenAuthProvider,
  ConnectionStore,
  RoutingAuthProvider,
  SsoAuthProvider,
  WEGROUP_AUTH_PROVIDER,
  WeGroupAuthProvider,
  WeGroupHttpModule,
  WeGroupOidcClient,
  ssoKeyring,
} from '@app/wegroup';
import { SourcesModule } from '@app/sources';
import { LeadDeliveryProcessor } from './lead-delivery.processor';
import { LeadEventsProcessor } from './lead-events.processor';
import { RetentionSweeper } from './retention.sweeper';
import { WorkerMetricsServer, WorkerObservabilityOptions } from './worker-metrics.server';
import { WorkerAppConfig, workerConfigProviders } from './worker.config';
import { WorkerMetrics } from './worker.metrics';
import { WORKER_OBSERVABILITY } from './worker.tokens';

function authProvider(config: WorkerAppConfig, redis: RedisClient, metrics: WorkerMetrics): WeGroupAuthProvider {
  const { apiToken, apiTokenScopes, distributionId } = config.wegroup;
  const sso = config.sso.client
    ? new SsoAuthProvider(
        new ConnectionStore(redis, config.redis.queuePrefix, ssoKeyring(config.sso.client)),
        new WeGroupOidcClient(config.sso.client),
        redis,
        metrics.tokenRefresh,
      )
    : null;
  return new RoutingAuthProvider(apiToken ? { distributionId, provider: new ApiTokenAuthProvider(apiToken, apiTokenScopes) } : null, sso);
}

/** Queue errors go through the JSON logger, each distinct one once in a while (by the queue's name). */
function queueErrors(queue: string): (error: Error) => void {
  if (queue === LEADS_QUEUE) return new RepeatedErrorLog(new Logger('LeadsQueue'), 'Leads queue error').listener;
  if (queue === LEAD_EVENTS_QUEUE) return new RepeatedErrorLog(new Logger('LeadEventsQueue'), 'Lead events queue error').listener;
  return new RepeatedErrorLog(new Logger('RetentionSweeper'), 'Maintenance queue error').listener;
}

@Module({})
export class WorkerModule {
  static forRoot(config: WorkerAppConfig, observability: WorkerObservabilityOptions = {}): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        WeGroupHttpModule.register({ timeoutMs: config.wegroup.timeoutMs, maxSockets: config.delivery.concurrency }),
        // A worker: waits for Redis forever; its durability is checked as the processor starts.
        LeadQueueModule.forRoot({ redis: config.redis, role: 'worker', connectionName: 'delivery-worker', maintenance: true, queueErrors }),
        // The sources file's sources only: INTAKE_API_KEYS's are `json` sources without a
        // mapping, whose leads arrive in WeGroup's shape and are never mapped here.
        SourcesModule.forRoot(config.sources, config.registry, { allowHttpUrls: config.delivery.allowHttpUrls }),
        // Events back to the sources: stored by the emitter, sent by LeadEventsProcessor over an HTTP client of their own.
        EventsModule.forRoot({ config: config.events, endpoints: config.endpoints, retry: config.delivery.retry, retention: config.retention, keyring: config.dataKeyring, sender: true }),
      ],
      providers: [
        ...workerConfigProviders(config),
        {
          provide: WEGROUP_AUTH_PROVIDER,
          inject: [REDIS_CONNECTION, WorkerMetrics],
          useFactory: (redis: RedisClient, metrics: WorkerMetrics) => authProvider(config, redis, metrics),
        },
        {
          provide: CircuitBreaker,
          inject: [REDIS_CONNECTION],
          useFactory: (redis: RedisClient) => new CircuitBreaker(redis, config.redis.queuePrefix, config.delivery.breaker),
        },
        LeadRepository,
        LeadDeliveryProcessor,
        LeadEventsProcessor,
        RetentionSweeper,
        { provide: WORKER_OBSERVABILITY, useValue: observability },
        WorkerMetrics,
        WorkerMetricsServer,
      ],
    };
  }
}
