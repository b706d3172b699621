import { ConfigError, Env, integer, list } from '@app/config';

/** Svix's schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts). */
export const DEFAULT_RETRY_SCHEDULE_SECONDS = [5, 300, 1800, 7200, 18000, 36000, 36000];

/** How leads are retried; shared by the intake (attempt budget) and the worker (delays). */
export interface RetryConfig {
  /** Delay before each retry, in ms; attempts = length + 1. */
  scheduleMs: number[];
}

export interface RetentionConfig {
  /** Delivered leads keep their personal data this long… */
  deliveredDays: number;
  /** …and their metadata (id, source, status, timestamps, WeGroup lead id) this long. */
  metadataDays: number;
  /** Failed leads are kept whole this long, to be replayed. */
  failedDays: number;
  idempotencyTtlSeconds: number;
}

export function readRetryConfig(env: Env): RetryConfig {
  const entries = list(env, 'DELIVERY_RETRY_SCHEDULE', DEFAULT_RETRY_SCHEDULE_SECONDS.map(String));
  const scheduleMs = entries.map((entry) => {
    if (!/^\d+(\.\d+)?$/.test(entry) || Number(entry) > 7 * 86_400) {
      throw new ConfigError('DELIVERY_RETRY_SCHEDULE', `must be comma-separated seconds (each at most 7 days), got "${entry}"`);
    }
    return Math.round(Number(entry) * 1000);
  });
  if (scheduleMs.length > 50) throw new ConfigError('DELIVERY_RETRY_SCHEDULE', 'may hold at most 50 retries');
  return { scheduleMs };
}

export function readRetentionConfig(env: Env): RetentionConfig {
  const deliveredDays = integer(env, 'DELIVERED_RETENTION_DAYS', 7, 1, 3650);
  const failedDays = integer(env, 'FAILED_RETENTION_DAYS', 30, 1, 3650);
  const metadataDays = integer(env, 'LEAD_METADATA_RETENTION_DAYS', 90, 1, 3650);
  const idempotencyTtlSeconds = integer(env, 'IDEMPOTENCY_TTL_SECONDS', 86_400, 1, 30 * 86_400);
  // A replayed key must find its lead: the lead may not be removed before the key expires.
  if (idempotencyTtlSeconds > Math.min(deliveredDays, failedDays) * 86_400) {
    throw new ConfigError('IDEMPOTENCY_TTL_SECONDS', 'must not exceed DELIVERED_RETENTION_DAYS or FAILED_RETENTION_DAYS');
  }
  return { deliveredDays, metadataDays: Math.max(metadataDays, deliveredDays), failedDays, idempotencyTtlSeconds };
}
