import type { Job } from 'bullmq';
import { RedisUnavailableException } from '../common/problem';
import { EnqueueRequest, LeadEnqueuer, ReplicaWait } from './lead-enqueuer';

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

/** A WAIT that answers `acknowledged` (or fails), recording the order of calls against addBulk. */
function fakeReplication(acknowledged: number | Error, replicas = 1) {
  const log: string[] = [];
  let closes = 0;
  const replication: ReplicaWait & { log: string[]; close(): void } = {
    replicas,
    timeoutMs: 50,
    log,
    close: () => closes++,
    mark: () => (log.push('mark'), closes),
    acknowledged: jest.fn(async (mark: number) => {
      log.push('wait');
      if (acknowledged instanceof Error) throw acknowledged;
      return mark === closes ? acknowledged : 0;
    }),
  };
  return replication;
}

describe('LeadEnqueuer', () => {
  it('sends the adds of one event-loop turn as one addBulk, each caller getting its own job', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer(queue);
    const jobs = await Promise.all(Array.from({ length: 10 }, (_, n) => enqueuer.add({ name: 'deliver', data: { n }, opts: { jobId: `job-${n}` } })));
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    expect(queue.calls[0].map((job) => job.data.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(jobs.map((job) => job.id)).toEqual(Array.from({ length: 10 }, (_, n) => `job-${n}`));
    expect(jobs.map((job) => job.data.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('collects adds from several I/O callbacks of the same turn (setImmediate, not a microtask)', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer(queue);
    const results: Array<Promise<Job<Data>>> = [];
    await new Promise<void>((resolve) => {
      // Callbacks that run in one pass of the loop, like requests whose bodies arrive together
      // (immediates queued now all run in the coming check phase; timers of 0 ms may straddle
      // a millisecond and run in two passes).
      for (let n = 0; n < 5; n++) setImmediate(() => results.push(enqueuer.add({ name: 'deliver', data: { n }, opts: { jobId: `j${n}` } })));
      setImmediate(resolve);
    });
    await Promise.all(results);
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    expect(queue.calls[0]).toHaveLength(5);
  });

  it('gives a deduplicated add the id BullMQ answers, so a replay is still job.id !== jobId', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer(queue);
    const jobs = await Promise.all(Array.from({ length: 100 }, (_, n) => enqueuer.add({ name: 'deliver', data: { n, dedup: 'k' }, opts: { jobId: `job-${n}` } })));
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    expect(jobs.filter((job, n) => job.id === `job-${n}`)).toHaveLength(1);
    expect(new Set(jobs.map((job) => job.id))).toEqual(new Set(['job-0']));
  });

  it('sends at once when maxPending jobs wait, and keeps a multi-job add in one bulk', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer(queue, 3);
    const first = [0, 1, 2].map((n) => enqueuer.add({ name: 'deliver', data: { n }, opts: { jobId: `a${n}` } }));
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
    const enqueuer = new LeadEnqueuer(queue);
    queue.failWith(new Error('Connection is closed.'));
    const answers = await Promise.allSettled(Array.from({ length: 4 }, (_, n) => enqueuer.add({ name: 'deliver', data: { n }, opts: { jobId: `j${n}` } })));
    expect(answers.map((answer) => answer.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect((answers[0] as PromiseRejectedResult).reason).toEqual(new Error('Connection is closed.'));
    queue.failWith(undefined);
    expect((await enqueuer.add({ name: 'deliver', data: { n: 9 }, opts: { jobId: 'later' } })).id).toBe('later');
  });

  it('drain() sends what is pending and waits for every bulk in flight', async () => {
    const queue = fakeQueue();
    const enqueuer = new LeadEnqueuer(queue);
    let settled = false;
    void enqueuer.add({ name: 'deliver', data: { n: 1 }, opts: { jobId: 'x' } }).then(() => (settled = true));
    await enqueuer.drain();
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    await Promise.resolve();
    expect(settled).toBe(true);
    await enqueuer.drain(); // nothing pending: a no-op
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
  });

  it('drain(timeout) does not wait forever for a bulk that never settles (Redis away)', async () => {
    const enqueuer = new LeadEnqueuer({ addBulk: () => new Promise<Array<Job<Data>>>(() => undefined) });
    void enqueuer.add({ name: 'deliver', data: { n: 1 }, opts: { jobId: 'x' } });
    // Resolving at all is the point (the jest timeout bounds the test).
    await enqueuer.drain(50);
  });

  describe('with REDIS_WAIT_REPLICAS', () => {
    it('answers a bulk once enough replicas acknowledged it: one WAIT per bulk, after the addBulk', async () => {
      const queue = fakeQueue();
      const replication = fakeReplication(1);
      const log = replication.log;
      queue.addBulk.mockImplementationOnce(async (jobs) => {
        log.push('addBulk');
        return jobs.map((job) => ({ id: String(job.opts?.jobId), data: job.data }) as unknown as Job<Data>);
      });
      const onUnreplicated = jest.fn();
      const enqueuer = new LeadEnqueuer(queue, 100, { replication, onUnreplicated });
      const jobs = await Promise.all(Array.from({ length: 5 }, (_, n) => enqueuer.add({ name: 'deliver', data: { n }, opts: { jobId: `j${n}` } })));
      expect(jobs.map((job) => job.id)).toEqual(['j0', 'j1', 'j2', 'j3', 'j4']);
      expect(log).toEqual(['mark', 'addBulk', 'wait']);
      expect(onUnreplicated).not.toHaveBeenCalled();
    });

    it('rejects every caller of a bulk too few replicas acknowledged with the 503 that says the lead may be stored', async () => {
      const queue = fakeQueue();
      const replication = fakeReplication(1, 2);
      const onUnreplicated = jest.fn();
      const enqueuer = new LeadEnqueuer(queue, 100, { replication, onUnreplicated });
      const single = Promise.allSettled([enqueuer.add({ name: 'deliver', data: { n: 0 }, opts: { jobId: 'a' } })]);
      const batch = Promise.allSettled([enqueuer.addAll([1, 2].map((n) => ({ name: 'deliver', data: { n }, opts: { jobId: `b${n}` } })))]);
      const answers = [...(await single), ...(await batch)];
      expect(queue.addBulk).toHaveBeenCalledTimes(1);
      expect(replication.acknowledged).toHaveBeenCalledTimes(1);
      for (const answer of answers) {
        expect(answer.status).toBe('rejected');
        const reason = (answer as PromiseRejectedResult).reason as RedisUnavailableException;
        expect(reason).toBeInstanceOf(RedisUnavailableException);
        expect(reason.getStatus()).toBe(503);
        expect(reason.headers['Retry-After']).toBe(String(RedisUnavailableException.RETRY_AFTER_SECONDS));
        expect(reason.message).toContain('may have been stored');
        expect(reason.message).toContain('same Idempotency-Key');
      }
      expect(onUnreplicated).toHaveBeenCalledTimes(1);
      expect(onUnreplicated).toHaveBeenCalledWith({ jobs: 3, acknowledged: 1 });
    });

    it('treats a failed WAIT, or a connection replaced between the writes and WAIT, as a shortfall', async () => {
      const failing = fakeReplication(new Error('Connection is closed.'));
      const onUnreplicated = jest.fn();
      const enqueuer = new LeadEnqueuer(fakeQueue(), 100, { replication: failing, onUnreplicated });
      await expect(enqueuer.add({ name: 'deliver', data: { n: 0 }, opts: { jobId: 'a' } })).rejects.toThrow('may have been stored');
      expect(onUnreplicated).toHaveBeenCalledWith({ jobs: 1, acknowledged: null, error: new Error('Connection is closed.') });

      const replaced = fakeReplication(1);
      const queue = fakeQueue();
      queue.addBulk.mockImplementationOnce(async (jobs) => {
        replaced.close(); // reconnected (maybe to a promoted replica) after the bulk was written
        return jobs.map((job) => ({ id: String(job.opts?.jobId), data: job.data }) as unknown as Job<Data>);
      });
      const other = new LeadEnqueuer(queue, 100, { replication: replaced });
      await expect(other.add({ name: 'deliver', data: { n: 1 }, opts: { jobId: 'b' } })).rejects.toBeInstanceOf(RedisUnavailableException);
      // The next bulk, on the new connection, goes through.
      expect((await other.add({ name: 'deliver', data: { n: 2 }, opts: { jobId: 'c' } })).id).toBe('c');
    });

    it('does not WAIT after a failed bulk: its callers get the bulk error', async () => {
      const queue = fakeQueue();
      const replication = fakeReplication(1);
      queue.failWith(new Error('Connection is closed.'));
      const enqueuer = new LeadEnqueuer(queue, 100, { replication });
      await expect(enqueuer.add({ name: 'deliver', data: { n: 0 }, opts: { jobId: 'a' } })).rejects.toEqual(new Error('Connection is closed.'));
      expect(replication.acknowledged).not.toHaveBeenCalled();
    });
  });
});
