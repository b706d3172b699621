import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { getStorageToken } from '@nestjs/throttler';
import { ProblemException } from '../common/problem';
import { RedisThrottlerStorage, THROTTLE_TIMEOUT_MS } from '../common/redis-throttler.storage';
import { intakeConfig } from '../intake.config';

/** Counters of the hook routes (beside the lead routes' in the same Redis storage). */
const SOURCE_THROTTLER = 'hooks';
const REFUSED_THROTTLER = 'hooks-refused';

/**
 * Rate limit of the hook routes, counted in Redis (every intake instance shares it), with the
 * lead routes' numbers (INTAKE_RATE_LIMIT per INTAKE_RATE_LIMIT_WINDOW_MS), in two budgets:
 * - per source: the requests that authenticated as it;
 * - per address: the requests refused (unknown source, wrong secret, wrong verify token), so
 *   guessing is slow, and a stranger's flood never spends a source's budget (a platform that
 *   meets 429s gives up on, or disables, its webhook).
 * Over a budget, the address or source is blocked for a window, and while blocked its requests
 * are answered 429 before their body is read. Like the lead routes' limit it fails open:
 * when Redis does not answer, the request goes on (and is answered 503 when it must store).
 */
@Injectable()
export class HookThrottle {
  private readonly limit: number;
  private readonly windowMs: number;

  constructor(
    @Inject(getStorageToken()) private readonly storage: RedisThrottlerStorage,
    @Inject(intakeConfig.KEY) { rateLimit }: ConfigType<typeof intakeConfig>,
  ) {
    this.limit = rateLimit.limit;
    this.windowMs = rateLimit.windowMs;
  }

  /** Before the body is read: the 429 of a blocked address, or of a blocked source; else nothing. */
  async admit(ip: string, source: string | undefined): Promise<void> {
    const [address, own] = await Promise.all([
      this.blockedFor(`ip:${ip}`, REFUSED_THROTTLER),
      source === undefined ? 0 : this.blockedFor(`source:${source}`, SOURCE_THROTTLER),
    ]);
    if (address > 0) throw this.tooMany('this address (refused hook requests)', address);
    if (own > 0) throw this.tooMany(`source "${source}"`, own);
  }

  /** Counts a request that authenticated as `source`; the 429 to answer instead when it is over the budget. */
  async accepted(source: string): Promise<void> {
    const record = await this.storage.increment(`source:${source}`, this.windowMs, this.limit, this.windowMs, SOURCE_THROTTLER);
    if (record.isBlocked) throw this.tooMany(`source "${source}"`, record.timeToBlockExpire);
  }

  /**
   * Counts a refused request against its address: returns the refusal to answer, or the 429
   * when the address is over its budget.
   */
  async refused(ip: string, refusal: ProblemException): Promise<ProblemException> {
    const record = await this.storage.increment(`ip:${ip}`, this.windowMs, this.limit, this.windowMs, REFUSED_THROTTLER);
    return record.isBlocked ? this.tooMany('this address (refused hook requests)', record.timeToBlockExpire) : refusal;
  }

  private async blockedFor(key: string, throttler: string): Promise<number> {
    try {
      return await this.storage.blockedFor(key, throttler, THROTTLE_TIMEOUT_MS);
    } catch {
      return 0;
    }
  }

  private tooMany(who: string, retryAfter: number): ProblemException {
    return new ProblemException(
      HttpStatus.TOO_MANY_REQUESTS,
      `Rate limit exceeded: at most ${this.limit} requests per ${this.windowMs / 1000} s for ${who}. Retry after ${retryAfter} s.`,
      undefined,
      { 'Retry-After': String(retryAfter) },
    );
  }
}
