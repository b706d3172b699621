import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Logger, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiConsumes,
  ApiHeader,
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
import { SourceThrottlerGuard } from './source-throttler.guard';
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
// The throttler first: it counts refused requests too (by address), which slows key guessing.
@UseGuards(SourceThrottlerGuard, ApiKeyGuard)
@ApiHeader({
  name: 'webhook-signature',
  required: false,
  description:
    'Required, with `webhook-id` and `webhook-timestamp`, for a source configured with a signing secret (INTAKE_WEBHOOK_SECRETS): a Standard Webhooks signature (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`; several space-separated are accepted). The timestamp may be at most 5 minutes off. A GET signs an empty body.',
})
@ApiHeader({ name: 'webhook-id', required: false, description: 'Standard Webhooks message id (signing sources): 1 to 255 visible ASCII characters.' })
@ApiHeader({ name: 'webhook-timestamp', required: false, description: 'Standard Webhooks timestamp (signing sources): Unix time in seconds.' })
@Controller({ path: 'leads', version: '1' })
export class LeadIntakeController {
  private readonly logger = new Logger(LeadIntakeController.name);

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
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Up to 255 characters. A repeat within IDEMPOTENCY_TTL_SECONDS (24 h) returns the original lead (200, `Idempotent-Replayed: true`) and enqueues nothing; the same key with another body is a 409. Without it, a signed request\'s `webhook-id` serves as the key, else `prospect.external_ref.external_ref`.',
  })
  @ApiOkResponse({
    type: LeadStatusDto,
    description: 'An idempotent replay: the lead created by the first request, with its current status.',
    headers: { 'Idempotent-Replayed': { description: 'Always `true`.', schema: { type: 'string' } } },
  })
  @ApiProblemResponses(
    ApiProblems.badRequest,
    ApiProblems.unauthorized,
    ApiProblems.conflict,
    ApiProblems.noConnection,
    ApiProblems.tooLarge,
    ApiProblems.unsupported,
    ApiProblems.tooManyRequests,
    ApiProblems.unavailable,
  )
  async create(
    @Body() dto: CreateLeadDto,
    @Req() request: SourceRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<LeadAcceptedDto | LeadStatusDto> {
    if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) {
      throw new ProblemException(HttpStatus.BAD_REQUEST, 'The Idempotency-Key header must be 1 to 255 visible ASCII characters.', [
        { field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' },
      ]);
    }
    // A signed request's webhook-id identifies a redelivery of the same message.
    const key = idempotencyKey ?? (request.webhookId !== undefined ? `webhook:${request.webhookId}` : undefined);
    const accepted = await this.intake.accept(dto, request.source!, key, request.id);
    // request_id comes with every line logged while the request is handled.
    this.logger.log({ msg: `Lead ${accepted.lead_id} ${accepted.replayed ? 'replayed' : 'accepted'}`, lead_id: accepted.lead_id, source: request.source });
    void reply.header('Location', `/v1/leads/${accepted.lead_id}`);
    if (!accepted.replayed) return { id: accepted.lead_id, status: 'queued' };
    const original = await this.status.find(accepted.lead_id);
    void reply.status(HttpStatus.OK).header('Idempotent-Replayed', 'true');
    return original!;
  }

  @Get(':id')
  @ApiOperation({ summary: 'What became of a lead', description: 'Only leads posted by your source are visible.' })
  @ApiOkResponse({ type: LeadStatusDto })
  @ApiProblemResponses(ApiProblems.unauthorized, ApiProblems.notFound, ApiProblems.tooManyRequests, ApiProblems.unavailable)
  async find(@Param('id') id: string, @Req() request: SourceRequest): Promise<LeadStatusDto> {
    const lead = /^[A-Za-z0-9-]{1,64}$/.test(id) ? await this.status.find(id, request.source!) : null;
    if (!lead) throw new ProblemException(HttpStatus.NOT_FOUND, `No lead with id "${id.slice(0, 64)}" for this source.`);
    return lead;
  }
}
