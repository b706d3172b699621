import { attemptsFor, deliveryJobOptions, honouredRetryAfterMs, MAX_RATE_LIMIT_PAUSE_MS, retryDelayMs } from './retry-policy';

const retry = { scheduleMs: [5_000, 300_000, 1_800_000], maxRateLimitWaitMs: 0 };

describe('retry policy', () => {
  it('spends one attempt more than the schedule has delays', () => {
    expect(attemptsFor(retry)).toBe(4);
    expect(deliveryJobOptions(retry, { deliveredDays: 7, metadataDays: 90, failedDays: 30, idempotencyTtlSeconds: 60 })).toMatchObject({
      attempts: 4,
      backoff: { type: 'wegroup-schedule' },
      removeOnComplete: { age: 90 * 86_400 },
      removeOnFail: { age: 30 * 86_400 },
    });
  });

  it('follows the schedule, with at most ±20 % jitter', () => {
    expect(retryDelayMs(retry, 1, null, () => 0.5)).toBe(5_000);
    expect(retryDelayMs(retry, 2, null, () => 0)).toBe(240_000);
    expect(retryDelayMs(retry, 3, null, () => 1)).toBe(2_160_000);
    for (let i = 0; i < 1000; i++) {
      const delay = retryDelayMs(retry, 2, null);
      expect(delay).toBeGreaterThanOrEqual(240_000);
      expect(delay).toBeLessThanOrEqual(360_000);
    }
  });

  it('never retries before Retry-After', () => {
    expect(retryDelayMs(retry, 1, 60_000, () => 0.5)).toBe(60_000);
    expect(retryDelayMs(retry, 2, 60_000, () => 0.5)).toBe(300_000);
  });

  it.each([
    ['a 429 within the cap', 120_000, true, 120_000],
    ['a hostile 429', 99_999_999_000, true, MAX_RATE_LIMIT_PAUSE_MS],
    ['a 503 within the cool-down', 2_000, false, 2_000],
    ['a hostile 503', 99_999_999_000, false, 60_000],
    ['no Retry-After', null, true, null],
  ])('honours Retry-After up to a cap: %s', (_, asked, rateLimited, honoured) => {
    expect(honouredRetryAfterMs(asked, rateLimited, 60_000)).toBe(honoured);
  });
});
