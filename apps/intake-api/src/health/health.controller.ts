import { Controller, Get, HttpStatus, Inject, ServiceUnavailableException, VERSION_NEUTRAL } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import type { RedisClient } from '@app/queue';
import { LeadsQueue, REDIS_CONNECTION, RedisHealthIndicator } from '@app/queue';
import { ProblemException } from '../common/problem';
import { ApiProblemResponses, ApiProblems } from '../common/problem.dto';

/** What a health answer looks like (terminus's own documentation shows a made-up `database` check). */
const healthAnswer = (info: Record<string, unknown>) =>
  ApiOkResponse({
    description: 'Healthy.',
    schema: {
      type: 'object',
      properties: { status: { type: 'string', enum: ['ok'] }, info: { type: 'object' }, error: { type: 'object' }, details: { type: 'object' } },
      example: { status: 'ok', info, error: {}, details: info },
    },
  });

@ApiTags('health')
@Controller({ path: 'health', version: VERSION_NEUTRAL })
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly redisHealth: RedisHealthIndicator,
    @Inject(REDIS_CONNECTION) private readonly redis: RedisClient,
    private readonly leads: LeadsQueue,
  ) {}

  @Get('live')
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiOperation({ summary: 'The process is up (no dependencies checked).' })
  @healthAnswer({})
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiOperation({ summary: 'Ready to accept leads: Redis answers. 503 otherwise.' })
  @healthAnswer({ redis: { status: 'up', latency_ms: 1 } })
  @ApiProblemResponses(ApiProblems.notReady)
  async ready() {
    try {
      return await this.health.check([async () => this.redisHealth.isHealthy('redis', [this.redis, await this.leads.state.get()])]);
    } catch (error) {
      // Terminus's answer has no `message`, so the problem filter would say only "Service Unavailable Exception".
      if (error instanceof ServiceUnavailableException) throw new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, 'Not ready: Redis (the lead queue) does not answer.');
      throw error;
    }
  }
}
