import { problem } from '../common/problem.dto';
import { XML_TYPES } from './hook-request';

/** The error answers of the hook and sources routes, each with an example in the server's own words. */
export const HookProblems = {
  badPayload: problem(
    400,
    "The payload is not what the source's type takes (`errors` names the fields), or a json source's lead is invalid. Pipedrive is never refused this way (its webhook would be banned): such a payload is answered 200 with the problem under `ignored_events`, and logged.",
    {
      detail: 'Not a Typeform webhook this source takes: form_response.answers is missing.',
      errors: [{ field: 'form_response.answers', message: 'is required' }],
    },
  ),
  unauthorized: problem(
    401,
    "The request does not prove it is the platform: the detail and `errors` name the header or parameter at fault (a signature that does not match the raw body, a stale timestamp, a wrong token, basic auth, organization id or X-API-Key). Nothing is stored.",
    {
      detail: 'The Typeform-Signature header does not match the body signed with this source\'s secret.',
      errors: [{ field: 'Typeform-Signature', message: "does not match the body signed with this source's secret" }],
    },
  ),
  notFound: problem(404, 'No source of this name is configured.', { detail: 'No source named "hubspot-main" (SOURCES_FILE, INTAKE_API_KEYS).' }),
  tooLarge: problem(413, 'The body is larger than 1 MB.', { detail: 'The request body is larger than 1 MB.' }),
  unsupported: problem(415, 'The body is not JSON, a form or XML.', {
    detail: `Content-Type must be application/json, application/x-www-form-urlencoded or ${XML_TYPES.join(', ')}, got "text/plain".`,
  }),
  tooManyRequests: problem(
    429,
    'Over the rate limit (INTAKE_RATE_LIMIT per INTAKE_RATE_LIMIT_WINDOW_MS) of the source, or of the address for refused requests. Retry after the given delay.',
    { detail: 'Rate limit exceeded: at most 600 requests per 60 s for this address (refused hook requests). Retry after 12 s.' },
    { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } } },
  ),
  handshakeBadRequest: problem(400, 'A hub.* parameter of the verification is missing or malformed; `errors` names it.', {
    detail: 'The hub.challenge query parameter is missing (Facebook webhook verification).',
    errors: [{ field: 'hub.challenge', message: 'is missing' }],
  }),
  wrongVerifyToken: problem(403, "hub.verify_token is not the source's verify_token.", {
    detail: "The hub.verify_token query parameter is not this source's verify_token.",
  }),
  postOnly: problem(405, 'The source is not a facebook source: its hook takes POST only.', {
    detail: 'Source "hubspot-main" (hubspot) takes POST only: GET answers only Facebook\'s verification handshake.',
  }),
  previewUnsupported: problem(415, 'The body is not JSON or XML.', {
    detail: `Content-Type must be application/json or ${XML_TYPES.join(', ')}, got "text/plain".`,
  }),
};
