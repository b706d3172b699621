import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Inject, Logger, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import {
  ApiAcceptedResponse,
  ApiBasicAuth,
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { intakeConfig } from '../intake.config';
import { CreateLeadDto, LeadAcceptedDto, LeadStatusDto } from '@app/leads';
import { ProblemException } from '../common/problem';
import { ApiProblemResponses, ApiProblems } from '../common/problem.dto';
import { BodyCheck, StrictValidationPipe } from '../common/strict-validation.pipe';
import type { LeadBatchStatuses } from '../metrics/intake.metrics';
import { OpsMayRead } from '../ops/ops-auth.guard';
import { OpsRequest, seesPersonalData } from '../ops/ops-users';
import { ApiKeyGuard, SourceRequest } from './api-key.guard';
import { batchFieldErrors, batchLeads, describeLeadErrors, MAX_BATCH_LEADS, MAX_BATCH_LISTED_PROBLEMS } from './lead-batch';
import { CreateLeadBatchDto, LeadBatchItemDto, LeadBatchResultDto } from './lead-batch.dto';
import { SourceThrottlerGuard } from './source-throttler.guard';
import { BatchLead, LeadIntakeService } from './lead-intake.service';
import { LeadStatusService } from './lead-status.service';
import { EXAMPLE_LEAD } from '@app/leads/dto/example-lead';

const EXAMPLE_BATCH_RESULT: LeadBatchResultDto = {
  accepted: 1,
  replayed: 0,
  rejected: 1,
  results: [
    { index: 0, status: 202, id: '6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10', location: '/v1/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10' },
    {
      index: 1,
      status: 400,
      detail: 'Invalid lead: 1 problem in leads[1].prospect.first_name.',
      errors: [{ field: 'leads[1].prospect.first_name', message: 'leads[1].prospect.first_name should not be empty' }],
    },
  ],
};

/** Leads of a batch checked per event-loop turn. */
const LEADS_PER_TURN = 25;

/** An Idempotency-Key header: 1 to 255 visible ASCII characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * A request's idempotency key: a signed request's webhook-id, else the Idempotency-Key header
 * (checked: a 400 names it). Shared by the lead routes and a `json` source's hook.
 */
export function idempotencyKeyOf(webhookId: string | undefined, header: string | undefined): string | undefined {
  if (webhookId !== undefined) return `webhook:${webhookId}`;
  if (header !== undefined && !IDEMPOTENCY_KEY.test(header)) {
    throw new ProblemException(HttpStatus.BAD_REQUEST, 'The Idempotency-Key header must be 1 to 255 visible ASCII characters.', [
      { field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' },
    ]);
  }
  return header;
}

@ApiTags('leads')
@ApiSecurity('api-key')
// The throttler first: it counts refused requests too (by address), which slows key guessing.
@UseGuards(SourceThrottlerGuard, ApiKeyGuard)
@ApiHeader({
  name: 'webhook-signature',
  required: false,
  description:
    'Required, with `webhook-id` and `webhook-timestamp`, for a source configured with a signing secret (INTAKE_WEBHOOK_SECRETS): a Standard Webhooks signature (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`; several space-separated are accepted). The timestamp may be at most 5 minutes off. A request without a body (a GET) signs its method and target instead, e.g. `GET /v1/leads/{id}`, so a captured signature reads only that lead.',
})
@ApiHeader({ name: 'webhook-id', required: false, description: 'Standard Webhooks message id (signing sources): 1 to 255 visible ASCII characters.' })
@ApiHeader({ name: 'webhook-timestamp', required: false, description: 'Standard Webhooks timestamp (signing sources): Unix time in seconds.' })
@Controller({ path: 'leads', version: '1' })
export class LeadIntakeController {
  private readonly logger = new Logger(LeadIntakeController.name);
  /** The global pipe's checks, applied to each lead of a batch. */
  private readonly validation: StrictValidationPipe;

  constructor(
    private readonly intake: LeadIntakeService,
    private readonly status: LeadStatusService,
    @Inject(intakeConfig.KEY) { allowHttpUrls }: ConfigType<typeof intakeConfig>,
  ) {
    this.validation = new StrictValidationPipe({ allowHttpUrls });
  }

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
      'Up to 255 characters. A repeat within IDEMPOTENCY_TTL_SECONDS (24 h) returns the original lead (200, `Idempotent-Replayed: true`) and enqueues nothing; the same key with another body is a 409. For a signing source the signed `webhook-id` is always the key and this header is not used (the signature does not cover it). Without either, `prospect.external_ref.external_ref` is the key.',
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
    // Spelled as the @ApiHeader above so the document lists one optional header (Nest looks it up lower-cased).
    @Headers('Idempotency-Key') idempotencyKey?: string,
  ): Promise<LeadAcceptedDto | LeadStatusDto> {
    const key = this.idempotencyKey(request, idempotencyKey);
    const accepted = await this.intake.accept(dto, request.source!, key, request.id);
    // Debug only: the access line already logs the request, and the job keeps its request_id
    // (the worker logs both ids), so at info level this second line per lead only cost time.
    this.logger.debug({ msg: `Lead ${accepted.lead_id} ${accepted.replayed ? 'replayed' : 'accepted'}`, lead_id: accepted.lead_id, source: request.source });
    void reply.header('Location', `/v1/leads/${accepted.lead_id}`);
    if (!accepted.replayed) return { id: accepted.lead_id, status: 'queued' };
    const original = await this.status.find(accepted.lead_id);
    void reply.status(HttpStatus.OK).header('Idempotent-Replayed', 'true');
    return original!;
  }

  @Post('batch')
  @HttpCode(HttpStatus.MULTI_STATUS)
  @ApiOperation({
    summary: `Accept up to ${MAX_BATCH_LEADS} leads in one request`,
    description:
      'Each lead is exactly a POST /v1/leads body and is checked, deduplicated and answered on its own: the answer is a 207 with one result per lead, in request order, as soon as Redis has stored the accepted ones (all with one round trip). ' +
      'With an `Idempotency-Key` (or, for a signed request, its `webhook-id`), lead i is deduplicated under that key and its position, so a retried batch replays every lead instead of duplicating it; without one, each lead\'s `prospect.external_ref.external_ref` is its key, as on the single route. ' +
      'A batch counts as one request for the rate limit. The body may be at most INTAKE_BATCH_BODY_LIMIT_BYTES (5 MB by default).',
  })
  @ApiConsumes('application/json')
  @ApiBody({
    type: CreateLeadBatchDto,
    examples: {
      batch: {
        summary: 'Two leads, the second invalid',
        value: { leads: [EXAMPLE_LEAD, { ...EXAMPLE_LEAD, prospect: { ...EXAMPLE_LEAD.prospect, first_name: '' } }] },
      },
    },
  })
  @ApiResponse({
    status: HttpStatus.MULTI_STATUS,
    type: LeadBatchResultDto,
    description: 'The envelope was valid: one result per lead (202 accepted, 200 replayed, 400 invalid, 409 key reused with another body, 422 no WeGroup route).',
    example: EXAMPLE_BATCH_RESULT,
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Up to 255 characters, for the whole batch: lead i is deduplicated under this key and its position i for IDEMPOTENCY_TTL_SECONDS (24 h); no key of a single post collides with it. For a signing source the signed `webhook-id` is always the key and this header is not used (the signature does not cover it). Without either, each lead\'s `prospect.external_ref.external_ref` is its key.',
  })
  @ApiProblemResponses(
    ApiProblems.batchInvalid,
    ApiProblems.unauthorized,
    ApiProblems.batchTooLarge,
    ApiProblems.unsupported,
    ApiProblems.tooManyRequests,
    ApiProblems.unavailable,
  )
  async createBatch(
    @Body() body: unknown,
    @Req() request: SourceRequest & LeadBatchStatuses,
    // As on create(): the @ApiHeader's spelling, so the document has no second, required copy.
    @Headers('Idempotency-Key') idempotencyKey?: string,
  ): Promise<LeadBatchResultDto> {
    const key = this.idempotencyKey(request, idempotencyKey);
    const leads = batchLeads(body);
    const checks = await this.validateLeads(leads);
    const results: LeadBatchItemDto[] = new Array(leads.length);
    const valid: Array<BatchLead & { index: number }> = [];
    let listed = 0;
    checks.forEach((check, index) => {
      if (check.errors) {
        // Each lead lists its first problems, the answer at most MAX_BATCH_LISTED_PROBLEMS in all.
        const errors = batchFieldErrors(check.errors.slice(0, Math.max(0, MAX_BATCH_LISTED_PROBLEMS - listed)), index);
        listed += errors.length;
        results[index] = { index, status: HttpStatus.BAD_REQUEST, detail: describeLeadErrors(errors, check.problems), errors };
      } else {
        // A space cannot appear in an Idempotency-Key or a webhook-id, so no single post's key can
        // equal a batch lead's.
        valid.push({ index, dto: check.value, ...(key !== undefined ? { idempotencyKey: `${key} #${index}` } : {}) });
      }
    });
    const outcomes = valid.length ? await this.intake.acceptMany(valid, request.source!, request.id) : [];
    outcomes.forEach((outcome, i) => {
      const { index } = valid[i];
      if (outcome instanceof ProblemException) {
        results[index] = {
          index,
          status: outcome.getStatus() as LeadBatchItemDto['status'],
          detail: outcome.message,
          ...(outcome.errors ? { errors: batchFieldErrors(outcome.errors, index) } : {}),
        };
      } else {
        const location = `/v1/leads/${outcome.lead_id}`;
        results[index] = { index, status: outcome.replayed ? HttpStatus.OK : HttpStatus.ACCEPTED, id: outcome.lead_id, location };
      }
    });
    const count = (status: number) => results.filter((result) => result.status === status).length;
    const answer: LeadBatchResultDto = { accepted: count(202), replayed: count(200), rejected: 0, results };
    answer.rejected = results.length - answer.accepted - answer.replayed;
    // For the metrics, which count leads, not requests.
    request.leadBatchStatuses = results.map((result) => result.status);
    // One line per batch; lead ids are in the answer and in the worker's lines.
    this.logger.log({
      msg: `Batch of ${results.length} leads: ${answer.accepted} accepted, ${answer.replayed} replayed, ${answer.rejected} rejected`,
      source: request.source,
      leads: results.length,
      accepted: answer.accepted,
      replayed: answer.replayed,
      rejected: answer.rejected,
    });
    return answer;
  }

  /**
   * Each lead checked as POST /v1/leads checks its body. One after another, letting other
   * requests (health checks, other posts) in every few leads: a 500-lead batch must not hold
   * the event loop for the whole of its checks.
   */
  private async validateLeads(leads: unknown[]): Promise<Array<BodyCheck<CreateLeadDto>>> {
    const checks: Array<BodyCheck<CreateLeadDto>> = [];
    for (const [index, lead] of leads.entries()) {
      if (index > 0 && index % LEADS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      checks.push(await this.validation.validateBody(lead, CreateLeadDto));
    }
    return checks;
  }

  /**
   * The request's idempotency key: a signed request's webhook-id, else the header (checked).
   * The signature covers the webhook-id but not the Idempotency-Key header, so for a signed
   * request the header is not used: a captured request replayed with a new header must not
   * make a new lead.
   */
  private idempotencyKey(request: SourceRequest, header: string | undefined): string | undefined {
    return idempotencyKeyOf(request.webhookId, header);
  }

  @Get(':id')
  // Ops read why any lead failed without a CRM's key (request.source stays unset: every source).
  @OpsMayRead()
  @ApiBasicAuth('ops')
  @ApiOperation({
    summary: 'What became of a lead',
    description:
      "Only leads posted by your source are visible; the ops credentials see every lead. An ops viewer reads WeGroup's response body and each attempt's error and body as \"(hidden: operator role needed)\" (they may echo the prospect).",
  })
  @ApiOkResponse({ type: LeadStatusDto })
  @ApiProblemResponses(ApiProblems.leadReadUnauthorized, ApiProblems.notFound, ApiProblems.tooManyRequests, ApiProblems.unavailable)
  async find(@Param('id') id: string, @Req() request: SourceRequest): Promise<LeadStatusDto> {
    // A source sees its own leads whole; an ops viewer without what WeGroup answered.
    const personalData = request.source !== undefined || seesPersonalData((request as OpsRequest).opsUser);
    const lead = /^[A-Za-z0-9-]{1,64}$/.test(id) ? await this.status.find(id, request.source, { personalData }) : null;
    // The ops credentials see every source's leads: their 404 names no source.
    if (!lead) throw new ProblemException(HttpStatus.NOT_FOUND, `No lead with id "${id.slice(0, 64)}"${request.source === undefined ? '' : ' for this source'}.`);
    return lead;
  }
}
