import { RetentionConfig, RetryConfig } from './lead-jobs.config';
import { JobsOptions } from 'bullmq';

/** The backoff type our jobs carry; the worker's backoffStrategy computes its delays. */
export const RETRY_SCHEDULE_BACKOFF = 'wegroup-schedule';

/** Each delay is moved by up to ±20 % so retries after an outage do not arrive in lockstep. */
export const JITTER = 0.2;

/** Waiting asked by a 429 without Retry-After. */
export const DEFAULT_RATE_LIMIT_PAUSE_MS = 30_000;

/**
 * The most of a 429's Retry-After that is honoured. A 429 pauses every delivery, so one
 * header must not stop them for days: after this long one request asks again.
 */
export const MAX_RATE_LIMIT_PAUSE_MS = 3_600_000;

/**
 * How much of WeGroup's Retry-After is honoured (null: it sent none). A 429 counts up to
 * {@link MAX_RATE_LIMIT_PAUSE_MS}; any other answer (a 503) up to the circuit breaker's
 * cool-down, the pause the service already takes for an outage.
 */
export function honouredRetryAfterMs(retryAfterMs: number | null, rateLimited: boolean, breakerCooldownMs: number): number | null {
  if (retryAfterMs === null) return null;
  return Math.min(retryAfterMs, rateLimited ? MAX_RATE_LIMIT_PAUSE_MS : breakerCooldownMs);
}

export function attemptsFor(retry: RetryConfig): number {
  return retry.scheduleMs.length + 1;
}

/**
 * The delay before the next attempt after `attemptsMade` failed ones: the schedule's step
 * with jitter, and never sooner than WeGroup's Retry-After.
 */
export function retryDelayMs(retry: RetryConfig, attemptsMade: number, retryAfterMs: number | null, random = Math.random): number {
  const step = retry.scheduleMs[Math.min(attemptsMade, retry.scheduleMs.length) - 1] ?? 0;
  const jittered = Math.round(step * (1 + JITTER * (2 * random() - 1)));
  return Math.max(jittered, retryAfterMs ?? 0);
}

const DAY_SECONDS = 86_400;

/** Options every lead delivery job gets; the job id is the lead id. */
export function deliveryJobOptions(retry: RetryConfig, retention: RetentionConfig): JobsOptions {
  return {
    attempts: attemptsFor(retry),
    backoff: { type: RETRY_SCHEDULE_BACKOFF },
    // Finished jobs are the leads' status records (and failed ones the dead letters). A
    // delivered lead's personal data goes earlier, after deliveredDays (the worker's sweep).
    removeOnComplete: { age: retention.metadataDays * DAY_SECONDS },
    removeOnFail: { age: retention.failedDays * DAY_SECONDS },
  };
}
