import { ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import { ProblemException } from '../common/problem';
import { ApiKeyGuard, SourceRequest } from './api-key.guard';

/**
 * Rate limit of the lead routes, one budget per source for all of them together (counted in
 * Redis, so it holds across intake instances). A request that does not authenticate counts
 * against its address instead, which also slows down key guessing. Runs before ApiKeyGuard.
 */
@Injectable()
export class SourceThrottlerGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly auth: ApiKeyGuard,
  ) {
    super(options, storage, reflector);
  }

  protected override async getTracker(request: Record<string, unknown>): Promise<string> {
    const source = this.auth.sourceOf(request as unknown as SourceRequest);
    return source ? `source:${source}` : `ip:${await super.getTracker(request)}`;
  }

  /** The same key on every lead route: the budget is the source's, not the route's. */
  protected override generateKey(_context: ExecutionContext, tracker: string): string {
    return tracker;
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const who = detail.tracker.startsWith('source:') ? `source "${detail.tracker.slice('source:'.length)}"` : 'this address (unauthenticated requests)';
    throw new ProblemException(
      HttpStatus.TOO_MANY_REQUESTS,
      `Rate limit exceeded: at most ${detail.limit} requests per ${detail.ttl / 1000} s for ${who}. Retry after ${detail.timeToBlockExpire} s.`,
      undefined,
      { 'Retry-After': String(detail.timeToBlockExpire) },
    );
  }
}
