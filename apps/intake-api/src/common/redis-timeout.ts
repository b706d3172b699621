import { withTimeout } from '@app/queue';
import { ProblemException, RedisUnavailableException } from './problem';

/** How long a request may wait for Redis before it is answered 503. */
export const REDIS_ANSWER_TIMEOUT_MS = 1_000;

/**
 * Redis must answer within a second (or `timeoutMs`: an enqueue that also waits for replicas
 * gets REDIS_WAIT_TIMEOUT_MS more); otherwise the request ends as a 503, never a hang.
 */
export async function withRedisTimeout<T>(promise: Promise<T>, onError?: (error: Error) => void, timeoutMs = REDIS_ANSWER_TIMEOUT_MS): Promise<T> {
  try {
    return await withTimeout(promise, timeoutMs);
  } catch (error) {
    if (error instanceof ProblemException) throw error;
    onError?.(error as Error);
    throw new RedisUnavailableException();
  }
}
