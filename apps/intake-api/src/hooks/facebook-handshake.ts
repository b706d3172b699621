import { HttpStatus } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { FacebookCredentials } from '@app/sources';
import { ProblemException } from '../common/problem';

/** Facebook's challenges are short numbers; anything much longer is not Facebook. */
const MAX_CHALLENGE_LENGTH = 512;

/**
 * Facebook's webhook verification (`GET` with `hub.mode=subscribe`, `hub.verify_token`,
 * `hub.challenge`): the challenge to echo (text/plain 200) when the token is the source's.
 * A missing or malformed parameter is a 400 naming it; a wrong token a 403 (what Facebook's
 * documentation answers), compared in constant time.
 */
export function facebookChallenge(credentials: FacebookCredentials, query: Record<string, unknown>): string {
  const mode = single(query, 'hub.mode');
  const token = single(query, 'hub.verify_token');
  const challenge = single(query, 'hub.challenge');
  if (mode !== 'subscribe') {
    throw new ProblemException(HttpStatus.BAD_REQUEST, 'The hub.mode query parameter must be "subscribe" (Facebook webhook verification).', [
      { field: 'hub.mode', message: 'must be "subscribe"' },
    ]);
  }
  if (!/^[\x21-\x7e]+$/.test(challenge) || challenge.length > MAX_CHALLENGE_LENGTH) {
    throw new ProblemException(HttpStatus.BAD_REQUEST, `The hub.challenge query parameter must be 1 to ${MAX_CHALLENGE_LENGTH} visible ASCII characters.`, [
      { field: 'hub.challenge', message: `must be 1 to ${MAX_CHALLENGE_LENGTH} visible ASCII characters` },
    ]);
  }
  if (!sameSecret(token, credentials.verify_token)) {
    throw new ProblemException(HttpStatus.FORBIDDEN, "The hub.verify_token query parameter is not this source's verify_token.");
  }
  return challenge;
}

function single(query: Record<string, unknown>, name: string): string {
  const value = query[name];
  if (typeof value === 'string' && value !== '') return value;
  const problem = value === undefined || value === '' ? 'is missing' : 'must be given once';
  throw new ProblemException(HttpStatus.BAD_REQUEST, `The ${name} query parameter ${problem} (Facebook webhook verification).`, [{ field: name, message: problem }]);
}

/** Digests compared, so neither the length nor a prefix of the secret shows in the timing. */
function sameSecret(presented: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}
