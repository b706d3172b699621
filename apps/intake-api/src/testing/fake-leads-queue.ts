import type { Job } from 'bullmq';
import type { DeliverLeadJobData } from '@app/leads';

export type BulkEntry = { name: string; data: DeliverLeadJobData; opts?: { jobId?: string; deduplication?: { id: string; ttl?: number } } };

/**
 * For unit specs of the intake's services: a leads queue that deduplicates like BullMQ (by
 * deduplication id, in order), keeps what it stored, and takes the index script (with the
 * counters) the lead repository sends beside it. `down` makes its adds fail as with Redis away.
 */
export function fakeLeadsQueue() {
  const stored = new Map<string, DeliverLeadJobData>();
  const dedup = new Map<string, string>();
  // The state connection: the scripts the repository defines on it answer as Redis would.
  const state: Record<string, unknown> = {
    defineCommand: (name: string) => {
      state[name] = async () => 1;
    },
  };
  const queue = {
    stored,
    down: false,
    addBulk: jest.fn(async (jobs: BulkEntry[]) => {
      if (queue.down) throw new Error('Connection is closed.');
      return jobs.map(({ data, opts }) => {
        const existing = opts?.deduplication && dedup.get(opts.deduplication.id);
        if (existing) return { id: existing } as Job;
        if (opts?.deduplication) dedup.set(opts.deduplication.id, opts.jobId!);
        stored.set(opts!.jobId!, data);
        return { id: opts!.jobId } as Job;
      });
    }),
    getJob: jest.fn(async (id: string) => (stored.has(id) ? ({ id, data: stored.get(id) } as Job) : undefined)),
    toKey: (name: string) => `q:${name}`,
    state: { get: async () => state },
  };
  return queue;
}
