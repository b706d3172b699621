import { CanActivate, ExecutionContext, HttpStatus, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { OPS_ROLE_NEEDED, ProblemException } from '../common/problem';
import { OpsAuthenticator } from './ops-authenticator';
import { opsContentTypeProblem } from './ops-request-policy';
import { OpsRequest, OpsRoleName, OpsUser } from './ops-users';

/** A lead route that also answers to the ops credentials, with the same view (ApiKeyGuard reads it). */
export const OPS_MAY_READ = 'ops-may-read';
export const OpsMayRead = () => SetMetadata(OPS_MAY_READ, true);

/** An ops action that reads a JSON body: it needs `Content-Type: application/json`, even when empty. */
const OPS_JSON_BODY = 'ops-json-body';
export const OpsJsonBody = () => SetMetadata(OPS_JSON_BODY, true);

/**
 * The role an ops route needs beyond signing in (on the handler or its controller): every
 * action that changes something, or shows personal data, is `operator`'s. Without it, any
 * ops user (a viewer too) may call the route.
 */
const OPS_ROLE = 'ops-role';
export const OpsRole = (role: OpsRoleName) => SetMetadata(OPS_ROLE, role);

/**
 * The signed-in ops user's name, for the replay log and the audit log: set by the
 * authenticator this guard (or the dashboard's hook) ran, so a route behind it always has one.
 */
export function opsUserName(request: FastifyRequest): string {
  const user = (request as OpsRequest).opsUser;
  if (!user) throw new Error('No ops user on this request: the route is not behind the ops authentication');
  return user.name;
}

/** Throws the 403 naming the role needed when `user` lacks it (`operator` includes `viewer`). */
export function requireOpsRole(user: OpsUser, role: OpsRoleName): void {
  if (role === 'operator' && user.role !== 'operator') throw new ProblemException(HttpStatus.FORBIDDEN, OPS_ROLE_NEEDED(role, user));
}

/**
 * HTTP basic auth with the ops credentials, for the ops routes of the API, then the route's
 * role (OpsRole); mutating routes take JSON only. Cross-site requests never get here (the
 * app's CSRF protection refuses them).
 */
@Injectable()
export class OpsAuthGuard implements CanActivate {
  constructor(
    private readonly authenticator: OpsAuthenticator,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const user = await this.authenticator.authenticate(request);
    const role = this.reflector.getAllAndOverride<OpsRoleName | undefined>(OPS_ROLE, [context.getHandler(), context.getClass()]);
    if (role) requireOpsRole(user, role);
    const problem = opsContentTypeProblem(request, this.reflector.get<boolean>(OPS_JSON_BODY, context.getHandler()) === true);
    if (problem) throw problem;
    return true;
  }
}
