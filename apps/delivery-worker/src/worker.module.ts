import { DynamicModule, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { RedisClient } from '@app/queue';
import { CircuitBreaker, createRedis, keyPrefix, LEADS_QUEUE } from '@app/queue';
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
import { closeWithin, LeadDeliveryProcessor } from './lead-delivery.processor';
import { RetentionSweeper } from './retention.sweeper';
import { WorkerMetricsServer, WorkerObservabilityOptions } from './worker-metrics.server';
import { WorkerAppConfig, workerConfigProviders } from './worker.config';
import { WorkerMetrics } from './worker.metrics';
import { WORKER_OBSERVABILITY, WORKER_QUEUE, WORKER_REDIS } from './worker.tokens';

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

@Module({})
export class WorkerModule implements OnApplicationShutdown {
  constructor(
    @Inject(WORKER_QUEUE) private readonly queue: Queue,
    @Inject(WORKER_REDIS) private readonly redis: RedisClient,
  ) {}

  static forRoot(config: WorkerAppConfig, observability: WorkerObservabilityOptions = {}): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        WeGroupHttpModule.register({ timeoutMs: config.wegroup.timeoutMs, maxSockets: config.delivery.concurrency }),
      ],
      providers: [
        ...workerConfigProviders(config),
        { provide: WORKER_REDIS, useFactory: () => createRedis(config.redis, 'worker', 'delivery-worker') },
        {
          provide: WEGROUP_AUTH_PROVIDER,
          inject: [WORKER_REDIS, WorkerMetrics],
          useFactory: (redis: RedisClient, metrics: WorkerMetrics) => authProvider(config, redis, metrics),
        },
        {
          provide: WORKER_QUEUE,
          inject: [WORKER_REDIS],
          useFactory: (redis: RedisClient) => {
            const queue = new Queue(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(config.redis.queuePrefix) });
            // Without a listener BullMQ prints each connection error raw on stderr, between the JSON lines.
            queue.on('error', new RepeatedErrorLog(new Logger('LeadsQueue'), 'Leads queue error').listener);
            return queue;
          },
        },
        {
          provide: CircuitBreaker,
          inject: [WORKER_REDIS],
          useFactory: (redis: RedisClient) => new CircuitBreaker(redis, config.redis.queuePrefix, config.delivery.breaker),
        },
        LeadDeliveryProcessor,
        RetentionSweeper,
        { provide: WORKER_OBSERVABILITY, useValue: observability },
        WorkerMetrics,
        WorkerMetricsServer,
      ],
    };
  }

  /** Runs after the processor closed its Worker (onModuleDestroy). */
  async onApplicationShutdown(): Promise<void> {
    await closeWithin(this.queue.close(), 'the leads queue', new Logger(WorkerModule.name));
    // BullMQ leaves a connection it was handed open; it is ours to close.
    this.redis.disconnect();
  }
}
