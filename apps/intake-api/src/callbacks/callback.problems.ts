import { problem } from '../common/problem.dto';
import { CALLBACK_BODY_LIMIT_BYTES } from './callback-request';

/** The error answers of the callback route, each with an example in the server's own words. */
export const CallbackProblems = {
  badBody: problem(400, 'A body sent as JSON is not valid JSON, or a body is not UTF-8.', {
    detail: 'The request body is not valid UTF-8.',
    errors: [{ field: '(body)', message: 'must be valid UTF-8' }],
  }),
  unauthorized: problem(
    401,
    'The token is not the one this service made for the lead id: a URL not handed out to WeGroup. Nothing is stored; refusals count toward the address\'s rate limit.',
    {
      detail: 'This callback URL was not issued by this service: its token does not match the lead id.',
      errors: [{ field: 'token', message: 'does not match the lead id' }],
    },
  ),
  tooLarge: problem(413, `The body is larger than ${CALLBACK_BODY_LIMIT_BYTES / 1024} KB.`, { detail: `The request body is larger than ${CALLBACK_BODY_LIMIT_BYTES / 1024} KB.` }),
  tooManyRequests: problem(
    429,
    'The address sent too many refused requests (INTAKE_RATE_LIMIT per INTAKE_RATE_LIMIT_WINDOW_MS); it is answered this until the window passes.',
    { detail: 'Rate limit exceeded: at most 600 requests per 60 s for this address (refused hook requests). Retry after 30 s.' },
    { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } } },
  ),
  unavailable: problem(
    503,
    'Redis did not answer in time; nothing was stored. Retry after the given delay.',
    { detail: 'The lead store (Redis) is unreachable, so the callback was not recorded. Retry later.' },
    { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } } },
  ),
};
