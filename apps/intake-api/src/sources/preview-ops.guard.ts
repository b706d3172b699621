import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from '../common/problem';
import { requireOpsRole } from '../ops/ops-auth.guard';
import { OpsAuthenticator } from '../ops/ops-authenticator';

/**
 * The ops credentials (HTTP basic auth) of an operator, for the preview: like OpsAuthGuard, but the body is a
 * platform's payload as it would post it, JSON or XML (the app refuses other types before
 * reading it), so only a missing Content-Type is this guard's to refuse. Cross-site requests
 * never get here (the app's CSRF protection refuses them), and no HTML form sends JSON or XML.
 */
@Injectable()
export class PreviewOpsGuard implements CanActivate {
  constructor(private readonly authenticator: OpsAuthenticator) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    // The answer is the mapped lead, the prospect's data, some of it fetched from the platform.
    requireOpsRole(await this.authenticator.authenticate(request), 'operator');
    if (request.headers['content-type'] === undefined) {
      throw new ProblemException(
        HttpStatus.UNSUPPORTED_MEDIA_TYPE,
        'A preview takes the payload as the platform posts it: Content-Type must be application/json or XML (the header is missing).',
      );
    }
    return true;
  }
}
