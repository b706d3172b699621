import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { Keyring } from '@app/config';
import { canonicalJson, CreateLeadDto, dataKeyringConfig, LeadStatusDto, NewLead, sealEvent } from '@app/leads';
import {
  adapterFor,
  HookAuthError,
  NATIVE_DEDUP_TTL_MS,
  NativeEvent,
  NativePayloadError,
  NativeRequest,
  SourceDefinition,
  SourceRegistry,
  sourcesConfig,
  SourceType,
  SplitRequest,
} from '@app/sources';
import { MAX_LISTED_PROBLEMS } from '../common/body-limits';
import { ProblemException } from '../common/problem';
import { StrictValidationPipe } from '../common/strict-validation.pipe';
import { intakeConfig } from '../intake.config';
import { ApiKeyGuard, SourceRequest } from '../leads/api-key.guard';
import { idempotencyKeyOf } from '../leads/lead-intake.controller';
import { LeadIntakeService } from '../leads/lead-intake.service';
import { LeadStatusService } from '../leads/lead-status.service';
import { HookAnswerDto, HookIgnoredEventDto, HookLeadDto } from './hook-answer.dto';
import { authenticatesByHeaders, isJsonType, nativeDedupId, nativeRequestOf } from './hook-request';
import { facebookChallenge } from './facebook-handshake';
import { HookThrottle } from './hook-throttle';

/** Events one request may carry (Salesforce sends at most 100 notifications, HubSpot 100 events). */
export const MAX_HOOK_EVENTS = 500;

/** Events sealed per event-loop turn. */
const EVENTS_PER_TURN = 25;

/**
 * Types whose platform disables or bans a webhook that meets 4xx answers, losing the events
 * that follow (Pipedrive bans it after repeated failures): a payload they send that is not
 * what the type takes is answered 200 with the problem listed under `ignored_events`, and
 * logged. Facebook's non-leadgen changes are ignored events of its adapter.
 */
const NEVER_REFUSED_PAYLOADS = new Set<SourceType>(['pipedrive']);

/** What a hook request became. */
export type HookOutcome =
  /** Native events stored: the JSON answer (Salesforce: the SOAP Ack, once stored). */
  | { kind: 'native'; type: SourceType; answer: HookAnswerDto }
  /** A `json` source without a mapping: exactly POST /v1/leads (202 + Location, or the replay's status). */
  | { kind: 'lead'; id: string; replay: LeadStatusDto | null };

/**
 * `POST /v1/hooks/{source}`: authenticates a platform's own webhook with its source's adapter,
 * splits it into events and stores each, sealed, as one lead job (mapped by the worker). Every
 * event of a request goes in one bulk with whatever else is enqueued in that turn, and the
 * answer comes only once Redis holds them all; a redelivered event (same platform event id)
 * is a replay, never a conflict (platforms change attempt counters in the body).
 */
@Injectable()
export class HookIntakeService {
  private readonly logger = new Logger(HookIntakeService.name);
  /** The global pipe's checks, for a `json` source's hook (its body is a POST /v1/leads body). */
  private readonly validation: StrictValidationPipe;
  private readonly publicBaseUrl: string | null;

  constructor(
    private readonly registry: SourceRegistry,
    private readonly intake: LeadIntakeService,
    private readonly status: LeadStatusService,
    private readonly apiKeys: ApiKeyGuard,
    private readonly throttle: HookThrottle,
    @Inject(dataKeyringConfig.KEY) private readonly keyring: Keyring,
    @Inject(intakeConfig.KEY) { allowHttpUrls }: ConfigType<typeof intakeConfig>,
    @Inject(sourcesConfig.KEY) { publicBaseUrl }: ConfigType<typeof sourcesConfig>,
  ) {
    this.validation = new StrictValidationPipe({ allowHttpUrls });
    this.publicBaseUrl = publicBaseUrl;
  }

  /**
   * Before a hook request's body is read: throws the 429 of a blocked address or source, and
   * says whether the body can be left unread because the request is refused on its headers
   * alone (an unknown source; a wrong key, token or basic auth for the types that use one).
   * The route then answers it as always, without the bytes.
   */
  async beforeBody(request: FastifyRequest): Promise<boolean> {
    const name = (request.params as { source?: string } | undefined)?.source;
    const source = name === undefined ? undefined : this.registry.get(name);
    await this.throttle.admit(request.ip, source?.name);
    if (request.method !== 'POST') return false;
    if (!source) return true;
    return authenticatesByHeaders(source) && !this.headersAuthenticate(source, request);
  }

  /** Stores the request's events (or, for a plain `json` source, its lead); throws the problem to answer. */
  async receive(name: string, request: SourceRequest, idempotencyHeader: string | undefined): Promise<HookOutcome> {
    const source = await this.sourceOrRefuse(name, request);
    const native = nativeRequestOf(request, this.publicBaseUrl);
    const webhookId = await this.authenticate(source, request, native);
    await this.throttle.accepted(source.name);
    if (source.type === 'json' && !source.mapping) return this.acceptLead(source, request, webhookId, idempotencyHeader);
    const split = source.type === 'json' ? this.jsonEvent(request, webhookId, idempotencyHeader) : this.split(source, native);
    return { kind: 'native', type: source.type, answer: await this.store(source, split, request.id) };
  }

  /** `GET /v1/hooks/{source}`: Facebook's verification handshake; the challenge to echo. */
  async handshake(name: string, request: FastifyRequest): Promise<string> {
    const source = await this.sourceOrRefuse(name, request);
    if (source.credentials.type !== 'facebook') {
      throw new ProblemException(
        HttpStatus.METHOD_NOT_ALLOWED,
        `Source "${source.name}" (${source.type}) takes POST only: GET answers only Facebook's verification handshake.`,
        undefined,
        { Allow: 'POST' },
      );
    }
    try {
      return facebookChallenge(source.credentials, request.query as Record<string, unknown>);
    } catch (error) {
      if (error instanceof ProblemException && error.getStatus() === HttpStatus.FORBIDDEN) throw await this.throttle.refused(request.ip, error);
      throw error;
    }
  }

  private async sourceOrRefuse(name: string, request: FastifyRequest): Promise<SourceDefinition> {
    const source = this.registry.get(name);
    if (source) return source;
    throw await this.throttle.refused(request.ip, unknownSource(name));
  }

  /**
   * The adapter's check (a `json` source: X-API-Key, and Standard Webhooks when it signs, as on
   * POST /v1/leads); a refusal is a 401 naming the header or parameter, counted against the
   * address. The verified webhook-id of a signed `json` request.
   */
  private async authenticate(source: SourceDefinition, request: SourceRequest, native: NativeRequest): Promise<string | undefined> {
    try {
      if (source.type === 'json') {
        const { source: keyOf, webhookId } = this.apiKeys.authenticated(request);
        if (keyOf !== source.name) {
          throw new ProblemException(HttpStatus.UNAUTHORIZED, `The X-API-Key header is not a key of source "${source.name}".`, [
            { field: 'X-API-Key', message: `is not a key of source "${source.name}"` },
          ]);
        }
        return webhookId;
      }
      adapterFor(source.type).authenticate(source, native, Date.now());
      return undefined;
    } catch (error) {
      if (error instanceof HookAuthError) {
        throw await this.throttle.refused(
          request.ip,
          new ProblemException(HttpStatus.UNAUTHORIZED, error.message, [{ field: error.field, message: error.message }]),
        );
      }
      if (error instanceof ProblemException && error.getStatus() === HttpStatus.UNAUTHORIZED) throw await this.throttle.refused(request.ip, error);
      throw error;
    }
  }

  /** The header-only check of `beforeBody` (no body, no signature); true when it passes, or cannot tell. */
  private headersAuthenticate(source: SourceDefinition, request: FastifyRequest): boolean {
    if (source.type === 'json') return this.apiKeys.keySource(request) === source.name;
    const headersOnly = nativeRequestOf({ method: request.method, url: request.url, headers: request.headers, query: request.query, body: undefined }, this.publicBaseUrl);
    try {
      adapterFor(source.type).authenticate(source, headersOnly, Date.now());
      return true;
    } catch (error) {
      // Anything but a refusal is the route's to answer, with the body.
      return !(error instanceof HookAuthError);
    }
  }

  /** A `json` source without a mapping: the body is a POST /v1/leads body, checked and answered alike. */
  private async acceptLead(source: SourceDefinition, request: SourceRequest, webhookId: string | undefined, idempotencyHeader: string | undefined): Promise<HookOutcome> {
    const key = idempotencyKeyOf(webhookId, idempotencyHeader);
    const dto = (await this.validation.transform(request.body, { type: 'body', metatype: CreateLeadDto })) as CreateLeadDto;
    // A source declared with a distribution routes its leads there, unless a lead names its own.
    if (dto.distribution_id === undefined && source.distributionId !== undefined) dto.distribution_id = source.distributionId;
    const accepted = await this.intake.accept(dto, source.name, key, request.id);
    return { kind: 'lead', id: accepted.lead_id, replay: accepted.replayed ? await this.status.find(accepted.lead_id) : null };
  }

  /**
   * A `json` source with a mapping: the body is one event, whose id is the signed webhook-id,
   * else the Idempotency-Key header, else a keyed digest of the body (the same bytes again are
   * the same event).
   */
  private jsonEvent(request: SourceRequest, webhookId: string | undefined, idempotencyHeader: string | undefined): SplitRequest {
    if (!isJsonType(request.headers['content-type']) || request.body === null || typeof request.body !== 'object') {
      throw new ProblemException(HttpStatus.BAD_REQUEST, 'A json source takes a JSON object or array (Content-Type: application/json).', [
        { field: '(body)', message: 'must be a JSON object or array' },
      ]);
    }
    const key = idempotencyKeyOf(webhookId, idempotencyHeader);
    const eventId = key ?? `body:${this.keyring.digest((request.rawBody ?? Buffer.from(JSON.stringify(request.body))).toString('utf8'))}`;
    return { events: [{ eventId, payload: request.body }], ignored: [] };
  }

  /** The adapter's events; a payload it refuses is a 400 naming the fields, or, where a 4xx would disable the webhook, an ignored event. */
  private split(source: SourceDefinition, native: NativeRequest): SplitRequest {
    const adapter = adapterFor(source.type);
    try {
      return adapter.split(native);
    } catch (error) {
      if (!(error instanceof NativePayloadError)) throw error;
      const problems = error.problems.slice(0, MAX_LISTED_PROBLEMS);
      if (NEVER_REFUSED_PAYLOADS.has(source.type)) {
        const reason = `not a ${adapter.platform} webhook this source takes: ${error.message}`;
        this.logger.warn({ msg: `Hook of source "${source.name}" ignored: ${reason}`, source: source.name, problems });
        return { events: [], ignored: [{ eventId: null, reason }] };
      }
      throw new ProblemException(HttpStatus.BAD_REQUEST, `Not a ${adapter.platform} webhook this source takes: ${error.message}`, problems);
    }
  }

  /** Every event as one lead job, in one bulk; answered once Redis holds them (a 503 + Retry-After when it does not answer). */
  private async store(source: SourceDefinition, split: SplitRequest, requestId: string): Promise<HookAnswerDto> {
    if (split.events.length > MAX_HOOK_EVENTS) {
      throw new ProblemException(HttpStatus.BAD_REQUEST, `The request carries ${split.events.length} events; at most ${MAX_HOOK_EVENTS} are taken per request.`, [
        { field: '(body)', message: `carries more than ${MAX_HOOK_EVENTS} events` },
      ]);
    }
    const ignored: HookIgnoredEventDto[] = split.ignored.map(({ eventId, reason }) => ({ event_id: eventId, reason }));
    if (ignored.length > 0) {
      this.logger.warn({
        msg: `Hook of source "${source.name}": ${ignored.length} event(s) ignored: ${[...new Set(ignored.map(({ reason }) => reason))].slice(0, 5).join('; ')}`,
        source: source.name,
      });
    }
    const leads: HookLeadDto[] = [];
    if (split.events.length > 0) {
      const distributionId = this.intake.distributionFor(source.distributionId);
      const refusal = await this.intake.routeProblem(distributionId);
      if (refusal) throw refusal;
      const jobs: NewLead[] = [];
      for (const [index, event] of split.events.entries()) {
        // Sealing is CPU work per event: other requests get their turn every few events.
        if (index > 0 && index % EVENTS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
        jobs.push(nativeLead(this.keyring, source, event, distributionId, requestId));
      }
      const stored = await this.intake.store(jobs, `${jobs.length} event(s) of source "${source.name}"`);
      jobs.forEach(({ data }, index) => {
        const id = stored[index];
        leads.push({ event_id: data.native!.event_id, id, status: id === data.lead_id ? 'accepted' : 'replayed', location: `/v1/leads/${id}` });
      });
    }
    const answer: HookAnswerDto = {
      source: source.name,
      accepted: leads.filter(({ status }) => status === 'accepted').length,
      replayed: leads.filter(({ status }) => status === 'replayed').length,
      ignored: ignored.length,
      leads,
      ignored_events: ignored,
    };
    this.logger.log({
      msg: `Hook of source "${source.name}": ${answer.accepted} accepted, ${answer.replayed} replayed, ${answer.ignored} ignored`,
      source: source.name,
      accepted: answer.accepted,
      replayed: answer.replayed,
      ignored: answer.ignored,
    });
    return answer;
  }
}

/**
 * One event as its lead job: the raw event sealed (the worker maps it before each attempt,
 * with the mapping in force then), no lead yet, deduplicated on the platform's event id for
 * longer than any platform retries.
 */
export function nativeLead(keyring: Keyring, source: SourceDefinition, event: NativeEvent, distributionId: string, requestId?: string): NewLead {
  return {
    data: {
      lead_id: randomUUID(),
      source: source.name,
      distribution_id: distributionId,
      received_at: new Date().toISOString(),
      ...(requestId !== undefined ? { request_id: requestId } : {}),
      sealed_lead: null,
      // Keyed, so the digest of a small payload cannot be matched against guessed names.
      body_hash: keyring.digest(canonicalJson(event.payload)),
      native: { type: source.type, event_id: event.eventId, sealed_event: sealEvent(keyring, event.payload) },
    },
    deduplicationId: nativeDedupId(source.name, event.eventId),
    deduplicationTtlMs: NATIVE_DEDUP_TTL_MS,
  };
}

export function unknownSource(name: string): ProblemException {
  return new ProblemException(HttpStatus.NOT_FOUND, `No source named "${name.slice(0, 64)}" (SOURCES_FILE, INTAKE_API_KEYS).`);
}
