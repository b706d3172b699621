import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { getStorageToken } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { OPS_CREDENTIALS_MISSING, ProblemException, RedisUnavailableException } from '../common/problem';
import { RedisThrottlerStorage } from '../common/redis-throttler.storage';
import { REDIS_ANSWER_TIMEOUT_MS } from '../common/redis-timeout';
import { OPS_CREDENTIALS } from '../intake.tokens';
import { OpsUserDirectory } from './ops-user-directory';
import { OpsRequest, OpsUser, OpsUserConfig } from './ops-users';

/**
 * Failed ops logins allowed per client address in a window; the next one blocks the address
 * for OPS_LOGIN_BLOCK_MS, correct credentials included (else the block would still answer
 * which guess is right).
 */
export const OPS_LOGIN_FAILURES = 10;
export const OPS_LOGIN_WINDOW_MS = 15 * 60_000;
export const OPS_LOGIN_BLOCK_MS = 15 * 60_000;
const THROTTLER_NAME = 'ops-login';
const REALM = 'Basic realm="WeGroup lead ops"';


/** The username and password of an `Authorization: Basic` header; null when there is none. */
export function basicCredentials(header: string | undefined): { username: string; password: string } | null {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? { username: decoded, password: '' } : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * HTTP basic auth with the ops users' credentials (OPS_USERS, OPS_USERNAME / OPS_PASSWORD),
 * for the API's ops routes and the dashboard alike; the request then carries who it is
 * (`request.opsUser`: name and role), for the role checks (OpsRole).
 *
 * Wrong credentials are counted per client address in Redis (shared by every intake instance,
 * the address as INTAKE_TRUST_PROXY resolves it); a request without credentials is no guess
 * and is not counted. When Redis does not answer, ops sign-in fails closed (503): the count
 * could not be kept, and every ops route needs Redis anyway.
 */
@Injectable()
export class OpsAuthenticator {
  private readonly logger = new Logger(OpsAuthenticator.name);
  private readonly users: OpsUserDirectory;

  constructor(
    @Inject(OPS_CREDENTIALS) users: OpsUserConfig[],
    @Inject(getStorageToken()) private readonly storage: RedisThrottlerStorage,
  ) {
    this.users = new OpsUserDirectory(users);
  }

  /**
   * The ops user the request's credentials are, also set as `request.opsUser`; otherwise
   * throws the 401, 429 or 503 to answer.
   */
  async authenticate(request: FastifyRequest): Promise<OpsUser> {
    const presented = basicCredentials(request.headers.authorization);
    if (!presented) {
      throw new ProblemException(HttpStatus.UNAUTHORIZED, OPS_CREDENTIALS_MISSING, undefined, {
        'WWW-Authenticate': REALM,
      });
    }
    const user = await this.signIn(presented.username, presented.password, request.ip);
    if (!user) throw new ProblemException(HttpStatus.UNAUTHORIZED, 'The ops credentials in the Authorization header are wrong.', undefined, { 'WWW-Authenticate': REALM });
    (request as OpsRequest).opsUser = user;
    return user;
  }

  /**
   * One sign-in by name and password from a client address (basic auth, the console's login
   * form): the user, or null for wrong credentials, counted against the address; throws the
   * 429 while the address is blocked and the 503 when Redis does not answer. Both paths share
   * one count, so switching between them buys no extra guesses.
   */
  async signIn(name: string, password: string, ip: string): Promise<OpsUser | null> {
    const address = `ip:${ip}`;
    const blockedFor = await this.redis(this.storage.blockedFor(address, THROTTLER_NAME, REDIS_ANSWER_TIMEOUT_MS));
    if (blockedFor > 0) throw tooManyFailures(blockedFor);
    const user = await this.users.check(name, password);
    if (user) return user;
    const record = await this.redis(
      this.storage.incrementOrThrow(address, OPS_LOGIN_WINDOW_MS, OPS_LOGIN_FAILURES, OPS_LOGIN_BLOCK_MS, THROTTLER_NAME, REDIS_ANSWER_TIMEOUT_MS),
    );
    if (record.isBlocked) {
      this.logger.warn(`Ops sign-in blocked for ${ip}: more than ${OPS_LOGIN_FAILURES} wrong credentials`);
      throw tooManyFailures(record.timeToBlockExpire);
    }
    return null;
  }

  /** The ops user of this name as configured now (role included), or null when there is none: see OpsUserDirectory.current. */
  current(name: string): OpsUser | null {
    return this.users.current(name);
  }

  private async redis<T>(promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch {
      throw new RedisUnavailableException('Ops sign-in is unavailable: Redis, where failed sign-ins are counted, does not answer. Retry later.');
    }
  }
}

function tooManyFailures(retryAfter: number): ProblemException {
  return new ProblemException(
    HttpStatus.TOO_MANY_REQUESTS,
    `Too many wrong ops credentials from this address: at most ${OPS_LOGIN_FAILURES} per ${OPS_LOGIN_WINDOW_MS / 60_000} min. Retry after ${retryAfter} s.`,
    undefined,
    { 'Retry-After': String(retryAfter) },
  );
}
