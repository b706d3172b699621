import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { getOptionsToken, getStorageToken, ThrottlerModuleOptions } from '@nestjs/throttler';
import type { RedisClient } from '@app/queue';
import { LeadIndex, LeadRepository, LeadStats } from '@app/leads';
import { SourcesModule } from '@app/sources';
import { EventsModule } from '@app/events';
import { CircuitBreaker, LeadQueueModule, REDIS_CONNECTION, RedisHealthIndicator } from '@app/queue';
import { WeGroupCallbacksController } from './callbacks/wegroup-callbacks.controller';
import { WeGroupCallbacksService } from './callbacks/wegroup-callbacks.service';
import { ProblemFilter } from './common/problem.filter';
import { RedisThrottlerStorage } from './common/redis-throttler.storage';
import { StrictValidationPipe } from './common/strict-validation.pipe';
import { SsoConnectionsController } from './connections/sso-connections.controller';
import { SsoConnectionsService } from './connections/sso-connections.service';
import { HookIntakeService } from './hooks/hook-intake.service';
import { HookThrottle } from './hooks/hook-throttle';
import { HooksController } from './hooks/hooks.controller';
import { PreviewOpsGuard } from './sources/preview-ops.guard';
import { SourcesController } from './sources/sources.controller';
import { SourcesService } from './sources/sources.service';
import { HealthController } from './health/health.controller';
import { IntakeMetrics } from './metrics/intake.metrics';
import { MetricsController } from './metrics/metrics.controller';
import { intakeConfigProviders, IntakeAppConfig } from './intake.config';
import { BREAKER_STATE, INTAKE_API_KEYS, INTAKE_WEBHOOK_SECRETS, OPS_CREDENTIALS } from './intake.tokens';
import { ApiKeyGuard } from './leads/api-key.guard';
import { SourceThrottlerGuard } from './leads/source-throttler.guard';
import { LeadIntakeController } from './leads/lead-intake.controller';
import { LeadIntakeService } from './leads/lead-intake.service';
import { LeadStatusService } from './leads/lead-status.service';
import { LeadOpsController } from './ops/lead-ops.controller';
import { LeadOpsService } from './ops/lead-ops.service';
import { OpsAuthGuard } from './ops/ops-auth.guard';
import { OpsAuthenticator } from './ops/ops-authenticator';
import { OpsAudit } from './ops/ops-audit';
import { OpsSessions } from './ops/console/ops-sessions';

@Module({})
export class IntakeModule {
  static forRoot(config: IntakeAppConfig): DynamicModule {
    return {
      module: IntakeModule,
      imports: [
        TerminusModule,
        // A producer: requests fail fast while Redis is away; REDIS_WAIT_REPLICAS applies here.
        LeadQueueModule.forRoot({ redis: config.redis, role: 'producer', connectionName: 'intake-api', checkDurability: true }),
        SourcesModule.forRoot(config.sources, config.registry, { allowHttpUrls: config.intake.allowHttpUrls }),
        // Stores events (lead.erased, lead.updated) for the worker to send; reads them for GET /v1/leads/{id} and the replays.
        EventsModule.forRoot({ config: config.events, endpoints: config.endpoints, retry: config.retry, retention: config.retention, keyring: config.dataKeyring }),
      ],
      controllers: [LeadIntakeController, HooksController, WeGroupCallbacksController, SourcesController, LeadOpsController, SsoConnectionsController, HealthController, MetricsController],
      providers: [
        ...intakeConfigProviders(config),
        { provide: APP_PIPE, useFactory: () => new StrictValidationPipe({ allowHttpUrls: config.intake.allowHttpUrls }) },
        { provide: APP_FILTER, useClass: ProblemFilter },
        // The X-API-Key keys and signing secrets of every `json` source, whichever way it was declared.
        { provide: INTAKE_API_KEYS, useValue: config.registry.apiKeys() },
        { provide: INTAKE_WEBHOOK_SECRETS, useValue: config.registry.webhookSecrets() },
        // Per-source rate limit of the lead routes (SourceThrottlerGuard), counted in Redis.
        {
          provide: getOptionsToken(),
          useValue: {
            throttlers: [{ limit: config.intake.rateLimit.limit, ttl: config.intake.rateLimit.windowMs }],
          } satisfies ThrottlerModuleOptions,
        },
        {
          provide: getStorageToken(),
          inject: [REDIS_CONNECTION],
          useFactory: (redis: RedisClient) => new RedisThrottlerStorage(redis, config.redis.queuePrefix),
        },
        { provide: OPS_CREDENTIALS, useValue: config.intake.ops.users },
        {
          provide: BREAKER_STATE,
          inject: [REDIS_CONNECTION],
          useFactory: (redis: RedisClient) => CircuitBreaker.reader(redis, config.redis.queuePrefix),
        },
        ApiKeyGuard,
        SourceThrottlerGuard,
        OpsAuthGuard,
        OpsAuthenticator,
        // The ops console's sign-in sessions, in Redis beside the queue.
        {
          provide: OpsSessions,
          inject: [REDIS_CONNECTION],
          useFactory: (redis: RedisClient) => new OpsSessions(redis, config.redis.queuePrefix, config.console),
        },
        LeadOpsService,
        SsoConnectionsService,
        LeadIntakeService,
        HookIntakeService,
        HookThrottle,
        WeGroupCallbacksService,
        PreviewOpsGuard,
        SourcesService,
        LeadStatusService,
        LeadRepository,
        // The console's reads: the lead index, the 5-minute counters (written by LeadRepository), the audit log.
        LeadIndex,
        LeadStats,
        OpsAudit,
        RedisHealthIndicator,
        IntakeMetrics,
      ],
    };
  }
}
