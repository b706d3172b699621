import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CreateLeadDto, LeadAcceptedDto, LeadStatusDto } from '@app/leads';
import { ProblemException } from '../common/problem';
import { ApiProblemResponses, ApiProblems } from '../common/problem.dto';
import { ApiKeyGuard, SourceRequest } from './api-key.guard';
import { LeadIntakeService } from './lead-intake.service';
import { LeadStatusService } from './lead-status.service';

const EXAMPLE_LEAD = {
  origin: 'CRM',
  backref: 'https://crm.example.com/prospects/1',
  prospect: {
    first_name: 'Foo',
    last_name: 'Bar',
    callbacks: ['https://crm.example.com/wegroup/callback'],
    external_ref: { external_ref: '123', external_ref_company: 'company' },
    risk_objects: { cars: [{ vin: 'WBA6L7100LFH65459' }] },
  },
};

@ApiTags('leads')
@ApiSecurity('api-key')
@UseGuards(ApiKeyGuard)
@Controller({ path: 'leads', version: '1' })
export class LeadIntakeController {
  constructor(
    private readonly intake: LeadIntakeService,
    private readonly status: LeadStatusService,
  ) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Accept a lead for delivery to WeGroup',
    description:
      "The body is WeGroup's customer-lead shape. The answer comes only after the lead is stored durably in Redis; delivery happens in the background.",
  })
  @ApiConsumes('application/json')
  @ApiBody({ type: CreateLeadDto, examples: { lead: { summary: 'A car-insurance lead', value: EXAMPLE_LEAD } } })
  @ApiAcceptedResponse({
    type: LeadAcceptedDto,
    description: 'Stored and queued.',
    headers: { Location: { description: 'Where to read the lead status.', schema: { type: 'string' } } },
  })
  @ApiProblemResponses(ApiProblems.badRequest, ApiProblems.unauthorized, ApiProblems.tooLarge, ApiProblems.unsupported, ApiProblems.unavailable)
  async create(
    @Body() dto: CreateLeadDto,
    @Req() request: SourceRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<LeadAcceptedDto> {
    const job = await this.intake.accept(dto, request.source!);
    void reply.header('Location', `/v1/leads/${job.lead_id}`);
    return { id: job.lead_id, status: 'queued' };
  }

  @Get(':id')
  @ApiOperation({ summary: 'What became of a lead', description: 'Only leads posted by your source are visible.' })
  @ApiOkResponse({ type: LeadStatusDto })
  @ApiProblemResponses(ApiProblems.unauthorized, ApiProblems.notFound, ApiProblems.unavailable)
  async find(@Param('id') id: string, @Req() request: SourceRequest): Promise<LeadStatusDto> {
    const lead = /^[A-Za-z0-9-]{1,64}$/.test(id) ? await this.status.find(id, request.source!) : null;
    if (!lead) throw new ProblemException(HttpStatus.NOT_FOUND, `No lead with id "${id.slice(0, 64)}" for this source.`);
    return lead;
  }
}
