import { Controller, Get, Inject, VERSION_NEUTRAL } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import type { RedisClient } from '@app/queue';
import { RedisHealthIndicator } from '@app/queue';
import { INTAKE_REDIS } from '../intake.tokens';

@ApiTags('health')
@Controller({ path: 'health', version: VERSION_NEUTRAL })
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly redisHealth: RedisHealthIndicator,
    @Inject(INTAKE_REDIS) private readonly redis: RedisClient,
  ) {}

  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'The process is up (no dependencies checked).' })
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Ready to accept leads: Redis answers. 503 otherwise.' })
  ready() {
    return this.health.check([() => this.redisHealth.isHealthy('redis', this.redis)]);
  }
}
