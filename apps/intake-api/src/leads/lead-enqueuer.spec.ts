import type { Job } from 'bullmq';
import { EnqueueRequest, LeadEnqueuer } from './lead-enqueuer';

type Data = { n: number; dedup?: string };

/** A queue whose addBulk records each call and answers like BullMQ: a deduplicated job gets the first job's id. */
function fakeQueue() {
  const calls: Array<Array<EnqueueRequest<Data>>> = [];
  const dedup = new Map<string, string>();
  let fail: Error | undefined;
  const queue = {
    calls,
    failWith: (error: Error | undefined) => (fail = error),
    addBulk: jest.fn(async (jobs: Array<EnqueueRequest<Data>>) => {
      calls.push(jobs);
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (fail) throw fail;
      return jobs.map((job) => {
        const own = String(job.opts?.jobId);
        const id = job.data.dedup ? (dedup.get(job.data.dedup) ?? (dedup.set(job.data.dedup, own), own)) : own;
        return { id, name: job.name, data: job.data } as unknown as Job<Data>;
      });
    }),
  };
  return queue;
}

describe('LeadEnqueuer', () => {
  it('sends the adds of one event-loop turn as one addBulk, each caller getting its own job', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer<Data>(queue);
    const jobs = await Promise.all(Array.from({ length: 10 }, (_, n) => enqueuer.add('deliver', { n }, { jobId: `job-${n}` })));
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    expect(queue.calls[0].map((job) => job.data.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(jobs.map((job) => job.id)).toEqual(Array.from({ length: 10 }, (_, n) => `job-${n}`));
    expect(jobs.map((job) => job.data.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('collects adds from several I/O callbacks of the same turn (setImmediate, not a microtask)', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer<Data>(queue);
    const results: Array<Promise<Job<Data>>> = [];
    await new Promise<void>((resolve) => {
      // Timers that fire in the same turn, like requests whose bodies arrive together.
      for (let n = 0; n < 5; n++) setTimeout(() => results.push(enqueuer.add('deliver', { n }, { jobId: `j${n}` })), 0);
      setTimeout(resolve, 0);
    });
    await Promise.all(results);
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    expect(queue.calls[0]).toHaveLength(5);
  });

  it('gives a deduplicated add the id BullMQ answers, so a replay is still job.id !== jobId', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer<Data>(queue);
    const jobs = await Promise.all(Array.from({ length: 100 }, (_, n) => enqueuer.add('deliver', { n, dedup: 'k' }, { jobId: `job-${n}` })));
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    expect(jobs.filter((job, n) => job.id === `job-${n}`)).toHaveLength(1);
    expect(new Set(jobs.map((job) => job.id))).toEqual(new Set(['job-0']));
  });

  it('sends at once when maxPending jobs wait, and keeps a multi-job add in one bulk', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer<Data>(queue, 3);
    const first = [0, 1, 2].map((n) => enqueuer.add('deliver', { n }, { jobId: `a${n}` }));
    // The third add reached the threshold: sent without waiting for the turn to end.
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    const many = enqueuer.addAll(Array.from({ length: 7 }, (_, n) => ({ name: 'deliver', data: { n }, opts: { jobId: `b${n}` } })));
    expect(queue.addBulk).toHaveBeenCalledTimes(2);
    expect(queue.calls[1]).toHaveLength(7);
    await Promise.all(first);
    expect((await many).map((job) => job.id)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6']);
  });

  it('rejects every caller of a failed bulk, and the next bulk goes through', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer<Data>(queue);
    queue.failWith(new Error('Connection is closed.'));
    const answers = await Promise.allSettled(Array.from({ length: 4 }, (_, n) => enqueuer.add('deliver', { n }, { jobId: `j${n}` })));
    expect(answers.map((answer) => answer.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect((answers[0] as PromiseRejectedResult).reason).toEqual(new Error('Connection is closed.'));
    queue.failWith(undefined);
    expect((await enqueuer.add('deliver', { n: 9 }, { jobId: 'later' })).id).toBe('later');
  });

  it('drain() sends what is pending and waits for every bulk in flight', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer<Data>(queue);
    let settled = false;
    void enqueuer.add('deliver', { n: 1 }, { jobId: 'x' }).then(() => (settled = true));
    await enqueuer.drain();
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    await Promise.resolve();
    expect(settled).toBe(true);
    await enqueuer.drain(); // nothing pending: a no-op
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
  });

  it('drain(timeout) does not wait forever for a bulk that never settles (Redis away)', async () => {
    const enqueuer = new LeadEnqueuer<Data>({ addBulk: () => new Promise(() => undefined) });
    void enqueuer.add('deliver', { n: 1 }, { jobId: 'x' });
    const started = Date.now();
    await enqueuer.drain(50);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
