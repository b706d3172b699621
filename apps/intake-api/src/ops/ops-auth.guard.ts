import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from '../common/problem';
import { OPS_CREDENTIALS } from '../intake.tokens';
import { OpsCredentials, opsCredentialsMatch } from './ops-dashboard';

/** HTTP basic auth with the ops credentials, for the ops routes of the API. */
@Injectable()
export class OpsAuthGuard implements CanActivate {
  constructor(@Inject(OPS_CREDENTIALS) private readonly credentials: OpsCredentials) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization ?? '';
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
    const decoded = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon < 0 || !opsCredentialsMatch(this.credentials, decoded.slice(0, colon), decoded.slice(colon + 1))) {
      throw new ProblemException(
        HttpStatus.UNAUTHORIZED,
        match ? 'The ops credentials are wrong.' : 'Ops routes need HTTP basic auth with OPS_USERNAME / OPS_PASSWORD.',
        undefined,
        { 'WWW-Authenticate': 'Basic realm="WeGroup lead ops"' },
      );
    }
    return true;
  }
}
