import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { STATUS_CODES } from 'node:http';
import { type FieldError, MISSING_READ_CREDENTIALS, OPS_CREDENTIALS_MISSING, OPS_ROLE_NEEDED } from './problem';

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

type HeaderObject = { description: string; schema: { type: 'string'; example?: string } };

/** The lead id the examples speak of (also the one of the batch example). */
const LEAD_ID = '6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10';
const RETRY_AFTER: Record<string, HeaderObject> = { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } } };

/**
 * An error answer as the server sends it: application/problem+json (the method's @ApiProduces
 * is for its success answer) with an example of this status, in the server's own words, so
 * Swagger UI does not show every error as the same 400.
 */
export const problem = (status: number, description: string, example: { detail: string; errors?: FieldError[] }, headers?: Record<string, HeaderObject>) => () =>
  applyDecorators(
    ApiExtraModels(ProblemDto),
    ApiResponse({
      status,
      description,
      headers,
      content: {
        'application/problem+json': {
          schema: { $ref: getSchemaPath(ProblemDto) },
          example: { type: 'about:blank', title: STATUS_CODES[status], status, ...example },
        },
      },
    }),
  );

/** The error answers a route documents, by status. */
export const ApiProblems = {
  badRequest: problem(400, 'The body is invalid (or the Idempotency-Key header is malformed); `errors` lists every invalid field.', {
    detail: 'Invalid request body: 1 problem in prospect.first_name.',
    errors: [{ field: 'prospect.first_name', message: 'prospect.first_name should not be empty' }],
  }),
  opsBadRequest: problem(400, 'The filter is invalid; `errors` lists every invalid field.', {
    detail: 'Invalid request body: 1 problem in failed_after.',
    errors: [{ field: 'failed_after', message: 'failed_after must be a valid ISO 8601 date string' }],
  }),
  batchInvalid: problem(
    400,
    'The batch envelope is invalid (not an object, `leads` missing, empty or over 500, an unknown field); `errors` names it. A lead\'s own problems are answered in its result.',
    {
      detail: 'Invalid request body: 1 problem in leads.',
      errors: [{ field: 'leads', message: 'leads holds 501 leads; at most 500 are accepted per request' }],
    },
  ),
  unauthorized: problem(
    401,
    'X-API-Key is missing or matches no configured key; or, for a signing source, the webhook-* signature headers are missing, wrong or outside the 5-minute tolerance.',
    { detail: 'Missing X-API-Key header.' },
  ),
  leadReadUnauthorized: problem(
    401,
    'Neither a valid X-API-Key (with its signature, for a signing source) nor the ops credentials (HTTP basic auth).',
    { detail: MISSING_READ_CREDENTIALS },
  ),
  opsUnauthorized: problem(
    401,
    'Ops credentials (HTTP basic auth) are missing or wrong.',
    { detail: OPS_CREDENTIALS_MISSING },
    { 'WWW-Authenticate': { description: 'The basic-auth challenge.', schema: { type: 'string', example: 'Basic realm="WeGroup lead ops"' } } },
  ),
  opsForbidden: problem(403, 'The signed-in ops user is a viewer: this action needs the operator role (OPS_USERS).', {
    detail: OPS_ROLE_NEEDED('operator', { name: 'grace', role: 'viewer' }),
  }),
  notFound: problem(404, 'No lead with this id was posted by your source.', { detail: `No lead with id "${LEAD_ID}" for this source.` }),
  opsLeadNotFound: problem(404, 'No lead with this id.', { detail: `No lead with id "${LEAD_ID}".` }),
  connectionNotFound: problem(404, 'No SSO connection with this id, or SSO is not configured.', { detail: 'No connection with id "conn-7d2f".' }),
  ssoNotConfigured: problem(404, 'SSO is not configured (WEGROUP_SSO_* variables).', {
    detail: 'SSO is not configured: set WEGROUP_SSO_CLIENT_ID and the other WEGROUP_SSO_* variables.',
  }),
  conflict: problem(409, 'The idempotency key was already used with a different body.', {
    detail: `This Idempotency-Key was already used for lead ${LEAD_ID} with a different body. Send the same body to replay, or use a new key.`,
  }),
  opsEventNotFound: problem(404, 'No event with this id (or it is past retention).', { detail: 'No event with id "evt_5f0c2b8e9d4a4e1f8b7c6d5e4f3a2b1c".' }),
  eventNotRetryable: problem(409, 'The event is not failed (or was re-queued already).', {
    detail: 'Only failed events can be retried; event evt_5f0c2b8e9d4a4e1f8b7c6d5e4f3a2b1c is completed.',
  }),
  notRetryable: problem(409, 'The lead is not failed (or was re-queued already).', {
    detail: `Only failed leads can be retried; lead ${LEAD_ID} is delivered.`,
  }),
  busy: problem(409, 'The lead is being delivered right now; ask again in a few seconds.', {
    detail: `Lead ${LEAD_ID} is being delivered right now; ask again in a few seconds.`,
  }),
  tooLarge: problem(413, 'The body is larger than 256 KB.', { detail: 'The request body is larger than 256 KB.' }),
  batchTooLarge: problem(413, 'The body is larger than INTAKE_BATCH_BODY_LIMIT_BYTES (5 MB by default); `errors` names `leads`.', {
    detail: 'The request body is larger than 5 MB (INTAKE_BATCH_BODY_LIMIT_BYTES): send fewer leads per batch.',
    errors: [{ field: 'leads', message: 'leads is larger than 5 MB in all; send fewer leads per batch' }],
  }),
  unsupported: problem(415, 'The body is not application/json.', { detail: 'Content-Type must be application/json, got "text/plain".' }),
  noConnection: problem(422, 'With SSO: no WeGroup connection for the distribution_id.', {
    detail:
      'Cannot accept this lead: no WeGroup connection for distribution "dist-42": a broker of that distribution must connect first (GET /v1/connections/sso/start).',
    errors: [
      {
        field: 'distribution_id',
        message: 'no WeGroup connection for distribution "dist-42": a broker of that distribution must connect first (GET /v1/connections/sso/start)',
      },
    ],
  }),
  tooManyRequests: problem(
    429,
    'Over the rate limit of your source (INTAKE_RATE_LIMIT requests per INTAKE_RATE_LIMIT_WINDOW_MS). Retry after the given delay.',
    { detail: 'Rate limit exceeded: at most 100 requests per 60 s for source "my-crm". Retry after 12 s.' },
    RETRY_AFTER,
  ),
  signInUnreachable: problem(502, "WeGroup's sign-in service could not be reached.", {
    detail: 'The WeGroup sign-in service (OpenID discovery) could not be reached. Try again later.',
  }),
  unavailable: problem(
    503,
    'Redis (the queue) did not answer in time; nothing was stored or changed. Retry after the given delay.',
    { detail: 'The lead queue (Redis) is unreachable, so the lead was not accepted. Retry later.' },
    RETRY_AFTER,
  ),
  notReady: problem(503, 'Redis does not answer: not ready to accept leads.', { detail: 'Not ready: Redis (the lead queue) does not answer.' }),
};

export function ApiProblemResponses(...decorators: Array<() => MethodDecorator & ClassDecorator>) {
  return applyDecorators(...decorators.map((make) => make()));
}
