import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { OpsAuthenticator } from './ops-authenticator';
import { opsContentTypeProblem } from './ops-request-policy';

/** A lead route that also answers to the ops credentials, with the same view (ApiKeyGuard reads it). */
export const OPS_MAY_READ = 'ops-may-read';
export const OpsMayRead = () => SetMetadata(OPS_MAY_READ, true);

/** An ops action that reads a JSON body: it needs `Content-Type: application/json`, even when empty. */
const OPS_JSON_BODY = 'ops-json-body';
export const OpsJsonBody = () => SetMetadata(OPS_JSON_BODY, true);

/**
 * HTTP basic auth with the ops credentials, for the ops routes of the API; mutating routes
 * take JSON only. Cross-site requests never get here (the app's CSRF protection refuses them).
 */
@Injectable()
export class OpsAuthGuard implements CanActivate {
  constructor(
    private readonly authenticator: OpsAuthenticator,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    await this.authenticator.authenticate(request);
    const problem = opsContentTypeProblem(request, this.reflector.get<boolean>(OPS_JSON_BODY, context.getHandler()) === true);
    if (problem) throw problem;
    return true;
  }
}
