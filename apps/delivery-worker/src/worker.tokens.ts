import { LeadsQueue, REDIS_CONNECTION } from '@app/queue';

/**
 * The worker's old names for the leads queue and the Redis connection, kept only until
 * lead-delivery.processor.ts injects LeadsQueue and REDIS_CONNECTION itself (and its job
 * calls go through LeadRepository): use those, not these.
 */
export const WORKER_REDIS = REDIS_CONNECTION;
export const WORKER_QUEUE = LeadsQueue;
export const WORKER_OBSERVABILITY = Symbol('WORKER_OBSERVABILITY');
