import type { Logger } from '@nestjs/common';

/**
 * Rejects when `promise` has not settled within `ms`. Every wait on Redis that must not hang
 * (a request, a health check, a scrape, the rate limiter) goes through this one helper.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long closing a BullMQ Worker or Queue may take at shutdown (it waits on Redis, which may be away). */
export const CLOSE_TIMEOUT_MS = 5_000;

/** Shutdown must end even while Redis is unreachable: a close that hangs is given up on. */
export async function closeWithin(closing: Promise<unknown>, what: string, logger: Pick<Logger, 'warn'>): Promise<void> {
  await withTimeout(closing, CLOSE_TIMEOUT_MS).catch((error: Error) => logger.warn(`Closing ${what}: ${error.message}; going on with the shutdown`));
}
