import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from '../common/problem';
import { INTAKE_API_KEYS } from '../intake.tokens';

export interface SourceRequest extends FastifyRequest {
  source?: string;
}

/**
 * Authenticates a CRM by its `X-API-Key` and records which source it is. Keys are compared
 * as SHA-256 digests in constant time, so timing does not reveal a key's prefix.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: Array<{ digest: Buffer; source: string }>;

  constructor(@Inject(INTAKE_API_KEYS) apiKeys: Map<string, string>) {
    this.keys = [...apiKeys].map(([key, source]) => ({ digest: digest(key), source }));
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<SourceRequest>();
    const header = request.headers['x-api-key'];
    if (typeof header !== 'string' || header === '') {
      throw new ProblemException(HttpStatus.UNAUTHORIZED, 'Missing X-API-Key header.');
    }
    const presented = digest(header);
    let source: string | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(key.digest, presented)) source = key.source;
    }
    if (!source) throw new ProblemException(HttpStatus.UNAUTHORIZED, 'The X-API-Key header does not match any configured key.');
    request.source = source;
    return true;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
