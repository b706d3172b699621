import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';

export class FieldErrorDto {
  @ApiProperty({ example: 'prospect.first_name' })
  field: string;

  @ApiProperty({ example: 'prospect.first_name should not be empty' })
  message: string;
}

export class ProblemDto {
  @ApiProperty({ example: 'about:blank' })
  type: string;

  @ApiProperty({ example: 'Bad Request' })
  title: string;

  @ApiProperty({ example: 400 })
  status: number;

  @ApiProperty({ example: 'Invalid request body: 1 problem in prospect.first_name.' })
  detail: string;

  @ApiPropertyOptional({ type: [FieldErrorDto], description: 'Every invalid field, for 400 answers.' })
  errors?: FieldErrorDto[];
}

const problem = (status: number, description: string, headers?: Record<string, { description: string; schema: { type: 'string' } }>) =>
  ApiResponse({ status, description, type: ProblemDto, headers });

/** The error answers a route documents, by status. */
export const ApiProblems = {
  badRequest: () => problem(400, 'The body is invalid; `errors` lists every invalid field.'),
  unauthorized: () =>
    problem(401, 'X-API-Key is missing or matches no configured key; or, for a signing source, the webhook-* signature headers are missing, wrong or outside the 5-minute tolerance.'),
  opsUnauthorized: () => problem(401, 'Ops credentials (HTTP basic auth) are missing or wrong.'),
  notFound: () => problem(404, 'Nothing with this id (a lead: none posted by your source).'),
  noConnection: () => problem(422, 'With SSO: no WeGroup connection for the distribution_id.'),
  conflict: () => problem(409, 'The idempotency key was already used with a different body.'),
  notRetryable: () => problem(409, 'The lead is not failed (or was re-queued already).'),
  busy: () => problem(409, 'The lead is being delivered right now; ask again in a few seconds.'),
  tooLarge: () => problem(413, 'The body is larger than 256 KB.'),
  batchInvalid: () =>
    problem(400, 'The batch envelope is invalid (not an object, `leads` missing, empty or over 500, an unknown field); `errors` names it. A lead\'s own problems are answered in its result.'),
  batchTooLarge: () => problem(413, 'The body is larger than INTAKE_BATCH_BODY_LIMIT_BYTES (5 MB by default); `errors` names `leads`.'),
  unsupported: () => problem(415, 'The body is not application/json.'),
  tooManyRequests: () =>
    problem(429, 'Over the rate limit of your source (INTAKE_RATE_LIMIT requests per INTAKE_RATE_LIMIT_WINDOW_MS). Retry after the given delay.', {
      'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } },
    }),
  unavailable: () =>
    problem(503, 'Redis (the queue) is unreachable; nothing was stored. Retry after the given delay.', {
      'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } },
    }),
};

export function ApiProblemResponses(...decorators: Array<() => MethodDecorator & ClassDecorator>) {
  return applyDecorators(...decorators.map((make) => make()));
}
