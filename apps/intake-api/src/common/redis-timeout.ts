import { withTimeout } from '@app/queue';
import { ProblemException, RedisUnavailableException } from './problem';

/** How long a request may wait for Redis before it is answered 503. */
export const REDIS_ANSWER_TIMEOUT_MS = 1_000;

/** Redis must answer within a second; otherwise the request ends as a 503, never a hang. */
export async function withRedisTimeout<T>(promise: Promise<T>, onError?: (error: Error) => void): Promise<T> {
  try {
    return await withTimeout(promise, REDIS_ANSWER_TIMEOUT_MS);
  } catch (error) {
    if (error instanceof ProblemException) throw error;
    onError?.(error as Error);
    throw new RedisUnavailableException();
  }
}
