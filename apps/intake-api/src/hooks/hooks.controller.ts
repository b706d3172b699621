import { Controller, Get, Headers, HttpCode, HttpStatus, Param, Post, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiConsumes, ApiExtraModels, ApiHeader, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LeadAcceptedDto, LeadStatusDto } from '@app/leads';
import { ApiProblemResponses, ApiProblems } from '../common/problem.dto';
import { SourceRequest } from '../leads/api-key.guard';
import { HookAnswerDto } from './hook-answer.dto';
import { HookIntakeService, MAX_HOOK_EVENTS } from './hook-intake.service';
import { XML_TYPES } from './hook-request';
import { HookProblems } from './hook.problems';

/** What Salesforce needs to stop redelivering an Outbound Message: sent only once every notification is stored. */
export const SALESFORCE_ACK =
  '<?xml version="1.0" encoding="UTF-8"?>' +
  '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">' +
  '<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body>' +
  '</soapenv:Envelope>';

const EXAMPLE_ANSWER: HookAnswerDto = {
  source: 'hubspot-main',
  accepted: 1,
  replayed: 0,
  ignored: 1,
  leads: [{ event_id: '3214452160', id: '6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10', status: 'accepted', location: '/v1/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10' }],
  ignored_events: [{ event_id: '3214452161', reason: 'contact.propertyChange is not a creation' }],
};

const PER_TYPE =
  '| type | send | authentication | answered |\n|---|---|---|---|\n' +
  '| `hubspot` | a workflow "Send a webhook" body, or a Webhooks API v3 event array | `X-HubSpot-Signature-v3` + `X-HubSpot-Request-Timestamp` (≤ 5 min; the URI is PUBLIC_BASE_URL + path when set), or `X-API-Key` | 200 JSON; HubSpot retries 5xx and 429 |\n' +
  '| `pipedrive` | webhooks v2 `{meta, data, previous}` | HTTP basic auth set on the webhook (checked before the body is read) | 200 JSON, also for a payload that is not a lead (under `ignored_events`, logged): 4xx would get the webhook banned |\n' +
  '| `salesforce` | an Outbound Message (SOAP, `text/xml`, up to 100 notifications) | `OrganizationId` in the message | `text/xml` SOAP `Ack` true, only once every notification is stored |\n' +
  '| `typeform` | `form_response` | `Typeform-Signature` (`sha256=` base64 HMAC of the raw body) | 200 JSON (Typeform disables a webhook on 404/410) |\n' +
  '| `facebook` | Lead Ads `leadgen` changes (`entry[].changes[]`) | `X-Hub-Signature-256` (`sha256=` hex HMAC of the raw body, app secret); GET handshake | 200 JSON; non-leadgen changes under `ignored_events` |\n' +
  '| `zoho`, `dynamics` | a workflow webhook (JSON or form fields); a Dataverse `RemoteExecutionContext` | `X-Source-Token` header or `token` query parameter (checked before the body is read) | 200 JSON |\n' +
  '| `json` | without a mapping: a POST /v1/leads body; with a mapping: any JSON | `X-API-Key` of this source (and Standard Webhooks if it signs) | without a mapping exactly as POST /v1/leads (202 + Location, 200 replay, 400, 409, 422); with one 200 JSON |';

@ApiTags('hooks')
@ApiExtraModels(HookAnswerDto, LeadStatusDto)
@ApiParam({ name: 'source', description: 'The source\'s `name` (SOURCES_FILE, or an INTAKE_API_KEYS entry).', example: 'hubspot-main' })
@Controller({ path: 'hooks', version: '1' })
export class HooksController {
  constructor(private readonly hooks: HookIntakeService) {}

  @Post(':source')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: "Take a CRM's or lead-ad platform's own webhook",
    description:
      "Give the platform this URL (GET /v1/sources lists each source's). The request is authenticated the platform's way, split into events (HubSpot arrays, Salesforce notifications, Facebook changes: one lead each), and each event is stored sealed, as received; the answer comes once Redis holds them all, never after a call to the platform or WeGroup. " +
      `The worker maps each event (the source's JSONata mapping, or the type's default) before delivering it. A redelivered event (same platform event id, remembered 4 days) is \`replayed\`, never a conflict. At most ${MAX_HOOK_EVENTS} events and 1 MB per request; a transient problem on our side (Redis) is a 503 with Retry-After, which every platform retries.\n\n` +
      PER_TYPE,
  })
  @ApiConsumes('application/json', 'application/x-www-form-urlencoded', ...XML_TYPES)
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: '`json` sources only, as on POST /v1/leads (a signed request\'s webhook-id takes its place). With a mapping, the event id: this key, else the webhook-id, else a digest of the body.',
  })
  @ApiResponse({
    status: HttpStatus.OK,
    description: 'Stored (or replayed); `ignored_events` lists what is not a lead. Salesforce gets its SOAP Ack instead. A `json` source without a mapping answers a replay as POST /v1/leads does (the lead, `Idempotent-Replayed: true`).',
    content: {
      'application/json': { schema: { oneOf: [{ $ref: getSchemaPath(HookAnswerDto) }, { $ref: getSchemaPath(LeadStatusDto) }] }, example: EXAMPLE_ANSWER },
      'text/xml': { schema: { type: 'string' }, example: SALESFORCE_ACK },
    },
  })
  @ApiAcceptedResponse({
    type: LeadAcceptedDto,
    description: 'A `json` source without a mapping: stored and queued, as POST /v1/leads answers.',
    headers: { Location: { description: 'Where to read the lead status.', schema: { type: 'string' } } },
  })
  @ApiProblemResponses(
    HookProblems.badPayload,
    HookProblems.unauthorized,
    HookProblems.notFound,
    ApiProblems.conflict,
    HookProblems.tooLarge,
    HookProblems.unsupported,
    ApiProblems.noConnection,
    HookProblems.tooManyRequests,
    ApiProblems.unavailable,
  )
  async receive(
    @Param('source') name: string,
    @Req() request: SourceRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    // Spelled as the @ApiHeader above so the document lists one optional header.
    @Headers('Idempotency-Key') idempotencyKey?: string,
  ): Promise<HookAnswerDto | LeadAcceptedDto | LeadStatusDto | string> {
    const outcome = await this.hooks.receive(name, request, idempotencyKey);
    if (outcome.kind === 'lead') {
      void reply.header('Location', `/v1/leads/${outcome.id}`);
      if (!outcome.replay) {
        void reply.status(HttpStatus.ACCEPTED);
        return { id: outcome.id, status: 'queued' };
      }
      void reply.header('Idempotent-Replayed', 'true');
      return outcome.replay;
    }
    if (outcome.type === 'salesforce') {
      void reply.header('Content-Type', 'text/xml; charset=utf-8');
      return SALESFORCE_ACK;
    }
    return outcome.answer;
  }

  @Get(':source')
  @ApiOperation({
    summary: "Facebook's webhook verification handshake",
    description:
      "Facebook calls it when the webhook is set up: with `hub.mode=subscribe` and the source's `verify_token`, the answer is `hub.challenge` as text/plain. Other types' hooks take POST only (405).",
  })
  @ApiQuery({ name: 'hub.mode', required: false, description: 'Always `subscribe`.', example: 'subscribe' })
  @ApiQuery({ name: 'hub.verify_token', required: false, description: "The source's `verify_token`." })
  @ApiQuery({ name: 'hub.challenge', required: false, description: 'Echoed back.', example: '1158201444' })
  @ApiResponse({ status: HttpStatus.OK, description: 'The challenge, echoed.', content: { 'text/plain': { schema: { type: 'string' }, example: '1158201444' } } })
  @ApiProblemResponses(
    HookProblems.handshakeBadRequest,
    HookProblems.wrongVerifyToken,
    HookProblems.notFound,
    HookProblems.postOnly,
    HookProblems.tooManyRequests,
  )
  async handshake(
    @Param('source') name: string,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const challenge = await this.hooks.handshake(name, request);
    void reply.header('Content-Type', 'text/plain; charset=utf-8');
    return challenge;
  }
}
