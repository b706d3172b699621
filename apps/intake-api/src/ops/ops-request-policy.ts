import { HttpStatus } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from '../common/problem';

const MUTATING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

export function isMutating(request: FastifyRequest): boolean {
  return MUTATING_METHODS.has(request.method);
}

/**
 * Ops actions take JSON only. A route that reads a body needs `Content-Type: application/json`
 * even when the body is empty: an empty HTML form post (which a browser holding the ops
 * credentials sends from any page) must not pass for "no filter". A route without a body may
 * omit the header (curl), but may not send another type.
 */
export function opsContentTypeProblem(request: FastifyRequest, takesBody: boolean): ProblemException | undefined {
  if (!isMutating(request)) return undefined;
  const type = request.headers['content-type'];
  if (type === undefined ? !takesBody : JSON_TYPE.test(type)) return undefined;
  return new ProblemException(
    HttpStatus.UNSUPPORTED_MEDIA_TYPE,
    `Ops actions take JSON only: Content-Type must be application/json${type === undefined ? ' (the header is missing)' : `, got "${type.slice(0, 100)}"`}.`,
  );
}
