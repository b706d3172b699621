import { Controller, Get, HttpCode, HttpStatus, Param, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBasicAuth, ApiConsumes, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { SourcePreview } from '@app/sources';
import { ApiProblemResponses, ApiProblems } from '../common/problem.dto';
import { XML_TYPES } from '../hooks/hook-request';
import { HookProblems } from '../hooks/hook.problems';
import { SourceRequest } from '../leads/api-key.guard';
import { opsUserName, OpsAuthGuard } from '../ops/ops-auth.guard';
import { PreviewOpsGuard } from './preview-ops.guard';
import { SourcePreviewDto, SourcesListDto } from './source-views.dto';
import { SourcesService } from './sources.service';

@ApiTags('ops')
@ApiBasicAuth('ops')
@Controller({ path: 'sources', version: '1' })
export class SourcesController {
  constructor(private readonly sources: SourcesService) {}

  @Get()
  @UseGuards(OpsAuthGuard)
  @ApiOperation({
    summary: 'The sources: the URL to give each platform, how it authenticates, its leads',
    description:
      'Every source, from SOURCES_FILE and INTAKE_API_KEYS alike. `url` is under PUBLIC_BASE_URL when set (set it behind a proxy), else the origin this request reached. `auth` says how a request proves it is the platform, never a secret.',
  })
  @ApiOkResponse({ type: SourcesListDto })
  @ApiProblemResponses(ApiProblems.opsUnauthorized, ApiProblems.unavailable)
  list(@Req() request: FastifyRequest): Promise<SourcesListDto> {
    return this.sources.list(`${request.protocol}://${request.host}`);
  }

  @Post(':source/preview')
  @HttpCode(HttpStatus.OK)
  @UseGuards(PreviewOpsGuard)
  @ApiParam({ name: 'source', description: "The source's name.", example: 'hubspot-main' })
  @ApiOperation({
    summary: 'What a native payload would become, with every problem (enqueues nothing)',
    description:
      "Post the payload as the platform would (JSON; XML for Salesforce): the answer lists the lead each event would produce with the source's mapping in force now (fetching ids-only records as the worker would), the events that are not leads, and every problem, naming the fields. No signature is checked and nothing is stored.",
  })
  @ApiConsumes('application/json', ...XML_TYPES)
  @ApiOkResponse({ type: SourcePreviewDto })
  @ApiProblemResponses(ApiProblems.opsUnauthorized, ApiProblems.opsForbidden, HookProblems.notFound, HookProblems.previewUnsupported)
  preview(@Param('source') name: string, @Req() request: SourceRequest): Promise<SourcePreview> {
    return this.sources.preview(name, request, opsUserName(request));
  }
}
