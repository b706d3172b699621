import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Keyring } from '@app/config';
import { LeadEventEmitter } from '@app/events';
import { CallbackRecord, callbackView, dataKeyringConfig, LeadRepository, openLead, verifyCallbackToken } from '@app/leads';
import { ProblemException, RedisUnavailableException } from '../common/problem';
import { withRedisTimeout } from '../common/redis-timeout';
import { HookThrottle } from '../hooks/hook-throttle';
import { CALLBACK_BODY_LIMIT_BYTES } from './callback-request';
import { CallbackAnswerDto } from './callback-answer.dto';

/** The path parameters of the callback route. */
interface CallbackParams {
  leadId?: string;
  token?: string;
}

/** A request as the callback route reads it. */
export interface CallbackRequest {
  ip: string;
  headers: FastifyRequest['headers'];
  body: unknown;
  rawBody?: Buffer;
}

const UNAVAILABLE = 'The lead store (Redis) is unreachable, so the callback was not recorded. Retry later.';
const NOT_OURS = 'This callback URL was not issued by this service: its token does not match the lead id.';

/**
 * `POST /v1/callbacks/wegroup/{leadId}/{token}`: WeGroup's webhooks about a lead, to the URL the
 * worker gave it for that lead. The token is the only proof (WeGroup signs nothing): checked
 * before the body is read, a wrong one is a 401 counted against the address, like a refused
 * hook request. A callback is stored sealed on its lead and forwarded to the source as
 * `lead.updated`; one for a lead unknown here or erased is acknowledged and dropped, so WeGroup
 * does not retry it forever. Neither the token nor the body is ever logged.
 */
@Injectable()
export class WeGroupCallbacksService {
  private readonly logger = new Logger(WeGroupCallbacksService.name);

  constructor(
    private readonly leads: LeadRepository,
    private readonly throttle: HookThrottle,
    @Inject(dataKeyringConfig.KEY) private readonly keyring: Keyring,
    private readonly events: LeadEventEmitter,
  ) {}

  /** Before the body is read: the 429 of a blocked address, or the 401 of a token that is not the lead's. */
  async beforeBody(request: FastifyRequest): Promise<void> {
    await this.throttle.admit(request.ip, undefined);
    const { leadId = '', token = '' } = (request.params ?? {}) as CallbackParams;
    await this.refuseUnlessOurs(request.ip, leadId, token);
  }

  async receive(leadId: string, token: string, request: CallbackRequest): Promise<CallbackAnswerDto> {
    await this.refuseUnlessOurs(request.ip, leadId, token);
    const callback: CallbackRecord = { received_at: new Date().toISOString(), content_type: contentTypeOf(request.headers), body: bodyText(request) };
    // The route's limit counts bytes as sent; a body past it in another way (a chunked one) is refused here.
    if (Buffer.byteLength(callback.body, 'utf8') > CALLBACK_BODY_LIMIT_BYTES) throw tooLarge();
    const recorded = await withRedisTimeout(this.leads.recordCallback(leadId, callback)).catch((error: unknown) => {
      if (error instanceof RedisUnavailableException) throw new RedisUnavailableException(UNAVAILABLE);
      throw error;
    });
    if (recorded.outcome === 'ignored') {
      this.logger.log(`WeGroup callback for lead ${leadId} ignored: ${recorded.reason === 'unknown' ? 'no such lead' : 'its personal data was erased'}`);
      return { status: 'ignored' };
    }
    this.logger.log(`WeGroup callback ${recorded.index} recorded for lead ${leadId}`);
    await this.forward(leadId, recorded.index, callback);
    return { status: 'recorded' };
  }

  /** The 401 (counted against the address) unless the token is the one made for this lead. */
  private async refuseUnlessOurs(ip: string, leadId: string, token: string): Promise<void> {
    if (verifyCallbackToken(this.keyring, leadId, token)) return;
    throw await this.throttle.refused(ip, new ProblemException(HttpStatus.UNAUTHORIZED, NOT_OURS, [{ field: 'token', message: 'does not match the lead id' }]));
  }

  /**
   * `lead.updated` to the source. The callback is stored already: a failure here is logged, and
   * WeGroup still gets its 200 (a retry of its call would store the callback twice).
   */
  private async forward(leadId: string, index: number, callback: CallbackRecord): Promise<void> {
    try {
      const data = await this.leads.findData(leadId);
      if (!data) return;
      const lead = data.sealed_lead ? openLead(this.keyring, data) : null;
      await this.events.emit({
        type: 'lead.updated',
        lead_id: leadId,
        source: data.source,
        key: String(index),
        data: { external_ref: lead?.prospect?.external_ref ?? null, callback: callbackView(callback) },
        at: new Date(callback.received_at),
      });
    } catch (error) {
      this.logger.warn(`WeGroup callback ${index} of lead ${leadId} stored but not forwarded to its source: ${(error as Error)?.name ?? 'error'}`);
    }
  }
}

function tooLarge(): ProblemException {
  return new ProblemException(HttpStatus.PAYLOAD_TOO_LARGE, `The request body is larger than ${CALLBACK_BODY_LIMIT_BYTES / 1024} KB.`);
}

function contentTypeOf(headers: FastifyRequest['headers']): string | null {
  const type = headers['content-type'];
  return typeof type === 'string' && type !== '' ? type.slice(0, 200) : null;
}

/** The body as received, as text: the raw bytes when the parser kept them, else what it made (text/plain: the text). */
function bodyText(request: CallbackRequest): string {
  if (request.rawBody) return request.rawBody.toString('utf8');
  if (typeof request.body === 'string') return request.body;
  if (Buffer.isBuffer(request.body)) return request.body.toString('utf8');
  return '';
}
