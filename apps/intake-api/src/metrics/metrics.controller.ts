import { Controller, Get, Res, UseGuards, VERSION_NEUTRAL } from '@nestjs/common';
import { ApiBasicAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiProblemResponses, ApiProblems } from '../common/problem.dto';
import { OpsAuthGuard } from '../ops/ops-auth.guard';
import { IntakeMetrics } from './intake.metrics';

@ApiTags('ops')
@ApiBasicAuth('ops')
@UseGuards(OpsAuthGuard)
@Controller({ path: 'metrics', version: VERSION_NEUTRAL })
export class MetricsController {
  constructor(private readonly metrics: IntakeMetrics) {}

  @Get()
  @ApiOperation({
    summary: 'Prometheus metrics',
    description: 'Text exposition format: accepted and rejected leads, queue depth, circuit breaker, process metrics. Ops credentials.',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format 0.0.4.', schema: { type: 'string' } })
  @ApiProblemResponses(ApiProblems.opsUnauthorized)
  async scrape(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    void reply.header('Content-Type', this.metrics.registry.contentType);
    return this.metrics.registry.metrics();
  }
}
