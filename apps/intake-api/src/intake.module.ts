import { DynamicModule, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { getOptionsToken, getStorageToken, ThrottlerModuleOptions } from '@nestjs/throttler';
import { Queue } from 'bullmq';
import type { RedisClient } from '@app/queue';
import { checkRedisDurability, CircuitBreaker, createRedis, keyPrefix, LEADS_QUEUE, RedisHealthIndicator, ReplicaAck } from '@app/queue';
import { ProblemFilter } from './common/problem.filter';
import { RedisThrottlerStorage } from './common/redis-throttler.storage';
import { StrictValidationPipe } from './common/strict-validation.pipe';
import { SsoConnectionsController } from './connections/sso-connections.controller';
import { SsoConnectionsService } from './connections/sso-connections.service';
import { HealthController } from './health/health.controller';
import { IntakeMetrics } from './metrics/intake.metrics';
import { MetricsController } from './metrics/metrics.controller';
import { intakeConfigProviders, IntakeAppConfig } from './intake.config';
import { BREAKER_STATE, INTAKE_API_KEYS, INTAKE_REDIS, INTAKE_WEBHOOK_SECRETS, LEAD_QUEUE, OPS_CREDENTIALS, REPLICA_ACK } from './intake.tokens';
import { ApiKeyGuard } from './leads/api-key.guard';
import { SourceThrottlerGuard } from './leads/source-throttler.guard';
import { LeadIntakeController } from './leads/lead-intake.controller';
import { LeadIntakeService } from './leads/lead-intake.service';
import { LeadStatusService } from './leads/lead-status.service';
import { LeadOpsController } from './ops/lead-ops.controller';
import { LeadOpsService } from './ops/lead-ops.service';
import { OpsAuthGuard } from './ops/ops-auth.guard';
import { OpsAuthenticator } from './ops/ops-authenticator';

@Module({})
export class IntakeModule implements OnApplicationShutdown {
  private readonly logger = new Logger(IntakeModule.name);

  constructor(
    @Inject(LEAD_QUEUE) private readonly queue: Queue,
    @Inject(INTAKE_REDIS) private readonly redis: RedisClient,
  ) {}

  static forRoot(config: IntakeAppConfig): DynamicModule {
    return {
      module: IntakeModule,
      imports: [TerminusModule],
      controllers: [LeadIntakeController, LeadOpsController, SsoConnectionsController, HealthController, MetricsController],
      providers: [
        ...intakeConfigProviders(config),
        { provide: APP_PIPE, useFactory: () => new StrictValidationPipe({ allowHttpUrls: config.intake.allowHttpUrls }) },
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: INTAKE_API_KEYS, useValue: config.intake.apiKeys },
        { provide: INTAKE_WEBHOOK_SECRETS, useValue: config.intake.webhookSecrets },
        // Per-source rate limit of the lead routes (SourceThrottlerGuard), counted in Redis.
        {
          provide: getOptionsToken(),
          useValue: {
            throttlers: [{ limit: config.intake.rateLimit.limit, ttl: config.intake.rateLimit.windowMs }],
          } satisfies ThrottlerModuleOptions,
        },
        {
          provide: getStorageToken(),
          inject: [INTAKE_REDIS],
          useFactory: (redis: RedisClient) => new RedisThrottlerStorage(redis, config.redis.queuePrefix),
        },
        { provide: OPS_CREDENTIALS, useValue: config.intake.ops },
        {
          provide: INTAKE_REDIS,
          useFactory: async () => {
            const client = createRedis(config.redis, 'producer', 'intake-api');
            void checkRedisDurability(client, new Logger('Redis'));
            return client;
          },
        },
        {
          provide: BREAKER_STATE,
          inject: [INTAKE_REDIS],
          useFactory: (redis: RedisClient) => CircuitBreaker.reader(redis, config.redis.queuePrefix),
        },
        {
          provide: LEAD_QUEUE,
          inject: [INTAKE_REDIS],
          useFactory: (redis: RedisClient) => {
            const queue = new Queue(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(config.redis.queuePrefix) });
            queue.on('error', () => undefined); // connection problems are logged once by the client
            return queue;
          },
        },
        {
          // WAIT must go out on the connection the queue writes with: the Queue uses this very client.
          provide: REPLICA_ACK,
          inject: [INTAKE_REDIS],
          useFactory: (redis: RedisClient) =>
            config.redis.waitReplicas > 0 ? new ReplicaAck(redis, config.redis.waitReplicas, config.redis.waitTimeoutMs) : null,
        },
        ApiKeyGuard,
        SourceThrottlerGuard,
        OpsAuthGuard,
        OpsAuthenticator,
        LeadOpsService,
        SsoConnectionsService,
        LeadIntakeService,
        LeadStatusService,
        RedisHealthIndicator,
        IntakeMetrics,
      ],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close().catch((error: Error) => this.logger.warn(`Closing the queue: ${error.message}`));
    this.redis.disconnect();
  }
}
