import { setTimeout as sleep } from 'node:timers/promises';
import { Controller, Logger, Post, Req, Res } from '@nestjs/common';
import { grants, PUSH_LEAD_SCOPE } from '@app/wegroup/scopes';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { InvalidJsonBody, recordedBody, recordOf } from './sandbox-http.setup';
import { jsonDecodeIssue, validateLeadBody } from './lead-body.validator';
import { SandboxCallbackSender } from './sandbox-callback.sender';
import { SandboxIntrospectionService } from './sandbox-introspection.service';
import { SandboxStateService } from './sandbox-state.service';
import type { FaultRule, RecordedRequest } from './sandbox.types';

interface Answer {
  status: number;
  body: unknown;
}

const NOT_PROVIDED: Answer = { status: 401, body: { detail: 'Authentication credentials were not provided.' } };
const INVALID_TOKEN: Answer = { status: 401, body: { detail: 'Invalid token.' } };
const INTROSPECTION_UNAVAILABLE: Answer = { status: 503, body: { detail: 'Token introspection unavailable.' } };
const MISSING_SCOPE: Answer = { status: 403, body: { detail: `Missing required scope: ${PUSH_LEAD_SCOPE}` } };
const AUTHORIZATION = /^\s*(\S+)\s+(\S+)\s*$/;

/** WeGroup's lead endpoint: POST /v1/api/distributions/{distribution_id}/leads/customers. */
@Controller('v1/api/distributions/:distribution_id/leads')
export class SandboxLeadsController {
  private readonly logger = new Logger(SandboxLeadsController.name);

  constructor(
    private readonly state: SandboxStateService,
    private readonly introspection: SandboxIntrospectionService,
    private readonly callbacks: SandboxCallbackSender,
  ) {}

  @Post('customers')
  async createCustomerLead(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const distributionId = (request.params as { distribution_id: string }).distribution_id;
    // The onRequest hook has recorded the request already; the fallback only guards against a misrouted call.
    const record =
      recordOf(request) ?? this.state.recordRequest(request.method, request.url, distributionId, request.headers);
    record.body = recordedBody(request.body);

    const fault = this.state.takeFault(distributionId);
    if (fault) return this.answerFault(fault, record, request, reply);

    const delay = this.state.delayMs;
    if (delay > 0) await sleep(delay);

    const refusal = (await this.authorize(request.headers.authorization)) ?? this.checkContentType(request.headers['content-type']);
    if (refusal) return this.send(reply, record, refusal.status, refusal.body);

    const body = request.body;
    const issues = body instanceof InvalidJsonBody ? [jsonDecodeIssue(body.message)] : validateLeadBody(body);
    if (issues.length > 0) return this.send(reply, record, 422, { detail: issues });

    const lead = this.state.createLead(distributionId, body);
    record.lead_id = lead.id;
    this.send(reply, record, 201, { id: lead.id, distribution_id: lead.distribution_id, created_at: lead.created_at });
    // As WeGroup: updates of the lead reach its callback URLs once it exists (SANDBOX_CALLBACKS).
    this.callbacks.schedule(lead);
  }

  /**
   * Registered tokens first; a bearer token the sandbox does not know is then introspected
   * at the OpenID provider, when introspection is configured.
   */
  private async authorize(header: string | undefined): Promise<Answer | undefined> {
    if (header === undefined || header.trim() === '') return NOT_PROVIDED;
    const match = AUTHORIZATION.exec(header);
    if (!match) return INVALID_TOKEN;
    const scheme = match[1].toLowerCase();
    if (scheme !== 'apikey' && scheme !== 'bearer') return INVALID_TOKEN;
    let scopes = this.state.scopesOf(scheme, match[2]);
    if (!scopes && scheme === 'bearer' && this.introspection.enabled) {
      const verdict = await this.introspection.introspect(match[2]);
      if ('unavailable' in verdict) return INTROSPECTION_UNAVAILABLE;
      if (verdict.active) scopes = verdict.scopes;
    }
    if (!scopes) return INVALID_TOKEN;
    return grants(scopes, PUSH_LEAD_SCOPE) ? undefined : MISSING_SCOPE;
  }

  private checkContentType(header: string | undefined): Answer | undefined {
    const mediaType = (header ?? '').split(';', 1)[0].trim().toLowerCase();
    if (mediaType === 'application/json') return undefined;
    return {
      status: 415,
      body: {
        detail: header
          ? `Unsupported media type "${mediaType}" in request. Expected "application/json".`
          : 'Missing Content-Type header. Expected "application/json".',
      },
    };
  }

  private async answerFault(fault: FaultRule, record: RecordedRequest, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    record.fault_id = fault.id;
    const delay = fault.delay_ms ?? this.state.delayMs;
    if (delay > 0) await sleep(delay);
    if (fault.mode === 'reset') {
      this.logger.debug(`${fault.id}: resetting the connection of request #${record.seq}`);
      record.outcome = 'reset';
      record.answered_at = new Date().toISOString();
      reply.hijack();
      const socket = request.raw.socket;
      if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.destroy();
      return;
    }
    const status = fault.status as number;
    this.logger.debug(`${fault.id}: answering request #${record.seq} with ${status}`);
    reply.headers(fault.headers);
    const body = fault.body === undefined ? { detail: `Injected fault ${status}` } : fault.body;
    let payload: string | undefined;
    if (body !== null) {
      const text = typeof body === 'string';
      payload = text ? body : JSON.stringify(body);
      if (!hasHeader(fault.headers, 'content-type')) reply.type(text ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8');
    }
    this.send(reply, record, status, payload);
  }

  private send(reply: FastifyReply, record: RecordedRequest, status: number, body: unknown): void {
    record.outcome = 'answered';
    record.status = status;
    record.answered_at = new Date().toISOString();
    reply.code(status).send(body);
  }
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}
