import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { MISSING_READ_CREDENTIALS, ProblemException } from '../common/problem';
import { INTAKE_API_KEYS, INTAKE_WEBHOOK_SECRETS } from '../intake.tokens';
import { OPS_MAY_READ } from '../ops/ops-auth.guard';
import { OpsAuthenticator } from '../ops/ops-authenticator';
import { WebhookSignatureVerifier } from './webhook-signature';

export interface SourceRequest extends FastifyRequest {
  /** The CRM source; never set on a request authenticated with the ops credentials. */
  source?: string;
  /** The verified `webhook-id` of a signed request. */
  webhookId?: string;
  /** The body bytes as received (NestFactory.create(…, { rawBody: true })). */
  rawBody?: Buffer;
}

/** Who a request is, decided once per request (the throttler asks before this guard runs). */
type Authentication = { source: string; webhookId?: string } | { error: ProblemException };
const AUTHENTICATION = Symbol('authentication');
/** The source of the request's key, once looked up: the intake asks before reading the body, the guard after. */
const KEY_SOURCE = Symbol('key source');
type MemoRequest = SourceRequest & { [AUTHENTICATION]?: Authentication };
type KeyedRequest = FastifyRequest & { [KEY_SOURCE]?: string | null };

/**
 * Authenticates a CRM by its `X-API-Key` and records which source it is. The keys are the
 * `json` sources' of the source registry (INTAKE_API_KEYS, and SOURCES_FILE's `api_key`s). Keys are compared
 * as SHA-256 digests in constant time, so timing does not reveal a key's prefix. A source
 * with signing secrets (INTAKE_WEBHOOK_SECRETS) must also sign every request (Standard
 * Webhooks), so a leaked key alone is not enough. A route marked `@OpsMayRead()` also takes the
 * ops credentials (HTTP basic auth) instead of a key, and then sees every source's leads.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: Array<{ digest: Buffer; source: string }>;
  private readonly signatures: WebhookSignatureVerifier;

  constructor(
    @Inject(INTAKE_API_KEYS) apiKeys: Map<string, string>,
    @Inject(INTAKE_WEBHOOK_SECRETS) webhookSecrets: Map<string, string[]>,
    private readonly reflector: Reflector,
    private readonly ops: OpsAuthenticator,
  ) {
    this.keys = [...apiKeys].map(([key, source]) => ({ digest: digest(key), source }));
    this.signatures = new WebhookSignatureVerifier(webhookSecrets);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<SourceRequest>();
    if (request.headers['x-api-key'] === undefined && this.reflector.get<boolean>(OPS_MAY_READ, context.getHandler())) {
      if (request.headers.authorization === undefined) throw new ProblemException(HttpStatus.UNAUTHORIZED, MISSING_READ_CREDENTIALS);
      if (/^Basic /i.test(request.headers.authorization)) {
        await this.ops.authenticate(request);
        return true;
      }
    }
    const authentication = this.authenticated(request);
    request.source = authentication.source;
    request.webhookId = authentication.webhookId;
    return true;
  }

  /**
   * The source the request's key (and, for a signing source, its signature over the body)
   * proves, and the verified webhook-id; otherwise throws the 401 to answer. For routes that
   * authenticate themselves (a `json` source's hook).
   */
  authenticated(request: SourceRequest): { source: string; webhookId?: string } {
    const authentication = this.authenticate(request);
    if ('error' in authentication) throw authentication.error;
    return authentication;
  }

  /** The authenticated source, or undefined when the request would be refused. Never throws. */
  sourceOf(request: SourceRequest): string | undefined {
    const authentication = this.authenticate(request);
    return 'source' in authentication ? authentication.source : undefined;
  }

  private authenticate(request: MemoRequest): Authentication {
    if (!request[AUTHENTICATION]) {
      try {
        request[AUTHENTICATION] = this.check(request);
      } catch (error) {
        if (!(error instanceof ProblemException)) throw error;
        request[AUTHENTICATION] = { error };
      }
    }
    return request[AUTHENTICATION];
  }

  /**
   * The source whose key the request carries, or undefined: the key alone, no signature. Needs
   * only the headers, so the intake asks it before reading a body (see intake.app.ts).
   */
  keySource(request: KeyedRequest): string | undefined {
    const known = request[KEY_SOURCE];
    if (known !== undefined) return known ?? undefined;
    const header = request.headers['x-api-key'];
    if (typeof header !== 'string' || header === '') return undefined;
    const presented = digest(header);
    let source: string | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(key.digest, presented)) source = key.source;
    }
    request[KEY_SOURCE] = source ?? null;
    return source;
  }

  private check(request: SourceRequest): { source: string; webhookId?: string } {
    const header = request.headers['x-api-key'];
    if (typeof header !== 'string' || header === '') {
      throw new ProblemException(HttpStatus.UNAUTHORIZED, 'Missing X-API-Key header.');
    }
    const source = this.keySource(request);
    if (!source) throw new ProblemException(HttpStatus.UNAUTHORIZED, 'The X-API-Key header does not match any configured key.');
    if (!this.signatures.requiresSignature(source)) return { source };
    return { source, webhookId: this.signatures.verify(source, signedContent(request), request.headers) };
  }
}

/**
 * What a signature covers: the exact body bytes of a request that has a body; for one without
 * (a GET), its method and target as sent (`GET /v1/leads/{id}`), so that a captured signature reads
 * only the lead it was made for.
 */
export function signedContent(request: SourceRequest): Buffer {
  return request.rawBody ?? Buffer.from(`${request.method} ${request.url}`);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
