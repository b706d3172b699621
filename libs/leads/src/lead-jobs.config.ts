import { configNamespace } from '@app/config/config-namespace';
import { readRetentionConfig, readRetryConfig } from './lead-jobs.settings';

export * from './lead-jobs.settings';

/*
 * The leads' job settings as config namespaces. The readers are in lead-jobs.settings.ts, free
 * of Nest, so the benchmark's kit can load them beside a bare baseline.
 */

/** DELIVERY_RETRY_SCHEDULE: the intake sets the attempt budget on each job, the worker waits the delays. */
export const retryConfig = configNamespace('retry', readRetryConfig);

/** *_RETENTION_DAYS, IDEMPOTENCY_TTL_SECONDS: the intake sets them on each job, the worker's sweep applies them. */
export const retentionConfig = configNamespace('retention', readRetentionConfig);
