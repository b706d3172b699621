import { HttpException, HttpStatus } from '@nestjs/common';
import type { FieldError } from '@app/leads';

/** One invalid field: its dotted path and what is wrong with it (the lead rules' own type). */
export type { FieldError };

/**
 * Errors are answered as RFC 9457 problem documents. `errors` lists every invalid field so a
 * CRM developer can fix a payload in one round.
 */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
}

export class ProblemException extends HttpException {
  constructor(
    status: HttpStatus,
    detail: string,
    readonly errors?: FieldError[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail, status);
  }
}

/** What a 503 for Redis says unless told otherwise: the words of the lead routes. */
export const REDIS_UNAVAILABLE_DETAIL = 'The lead queue (Redis) is unreachable, so the lead was not accepted. Retry later.';

export class RedisUnavailableException extends ProblemException {
  static readonly RETRY_AFTER_SECONDS = 5;

  constructor(detail = REDIS_UNAVAILABLE_DETAIL) {
    super(
      HttpStatus.SERVICE_UNAVAILABLE,
      detail,
      undefined,
      { 'Retry-After': String(RedisUnavailableException.RETRY_AFTER_SECONDS) },
    );
  }
}

/** The 401 of a route that takes the ops credentials as well as a key (`@OpsMayRead()`), when neither came. */
export const MISSING_READ_CREDENTIALS = 'Missing X-API-Key header (ops: HTTP basic auth in the Authorization header).';

/** The 401 of an ops route without credentials. */
export const OPS_CREDENTIALS_MISSING =
  "Ops routes need HTTP basic auth with an ops user's name and password (OPS_USERS, or OPS_USERNAME / OPS_PASSWORD) in the Authorization header.";

/** The 403 of an ops action the signed-in user's role does not allow. */
export const OPS_ROLE_NEEDED = (role: string, user: { name: string; role: string }) =>
  `This action needs the ${role} role; ops user "${user.name}" is a ${user.role}.`;
