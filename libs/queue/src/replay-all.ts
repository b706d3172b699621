import type { Logger } from '@nestjs/common';

/**
 * A bulk replay's second half, for leads and events alike: replays each job collected, one
 * after another; one that fails (moved on meanwhile, Redis trouble) is logged and the rest go
 * on. How many were replayed.
 */
export async function replayAll<J extends { id?: string }>(jobs: J[], replay: (job: J) => Promise<void>, logger: Logger, what: string): Promise<number> {
  let replayed = 0;
  for (const job of jobs) {
    try {
      await replay(job);
      replayed++;
    } catch (error) {
      logger.warn(`${what} ${job.id} not re-queued: ${(error as Error).message}`);
    }
  }
  return replayed;
}
