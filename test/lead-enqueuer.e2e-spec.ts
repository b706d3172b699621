import { Job, Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { keyPrefix, LEADS_QUEUE, LeadsQueue } from '@app/queue';
import { LeadEnqueuer } from '../apps/intake-api/src/leads/lead-enqueuer';
import { connectRedis, deleteKeys, uniqueQueuePrefix } from './support/redis-keys';
import { distributionId, INTAKE_KEY, lead, Stack, startIntakeWithoutRedis } from './support/stack';

type Data = { n: number };

/**
 * Coalesced enqueueing against real Redis and BullMQ: the adds of one event-loop turn go out as
 * one Queue.addBulk, and BullMQ's deduplication (what idempotency rides on) answers each job
 * of a bulk exactly as Queue.add would.
 */
describe('LeadEnqueuer: one addBulk per event-loop turn, deduplication intact', () => {
  describe('against BullMQ', () => {
    const prefix = uniqueQueuePrefix('enqueuer');
    const redis = connectRedis();
    // No meta write: it could land after the cleanup below and outlive the test.
    const queue = new Queue<Data>(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(prefix), skipMetasUpdate: true });

    afterAll(async () => {
      await queue.close();
      redis.disconnect();
      await deleteKeys(prefix);
    });

    it('gives every add of a bulk its own job; deduplicated ones the id of the job they were deduplicated into', async () => {
      const bulk = jest.spyOn(queue, 'addBulk');
      const enqueuer = new LeadEnqueuer(queue);
      const dedup = { id: `same-${randomUUID()}`, ttl: 60_000 };
      const ids = Array.from({ length: 105 }, () => randomUUID());
      // 100 adds under one deduplication id, interleaved with 5 without.
      const added = ids.map((jobId, n) => enqueuer.add({ name: 'deliver-lead', data: { n }, opts: n % 21 === 20 ? { jobId } : { jobId, deduplication: dedup } }));
      const jobs: Array<Job<Data>> = await Promise.all(added);

      expect(bulk).toHaveBeenCalledTimes(2); // 100 pending sends at once; the 5 left wait for the turn's end
      expect(bulk.mock.calls.map(([list]) => list.length)).toEqual([100, 5]);
      const deduplicated = jobs.filter((_, n) => n % 21 !== 20);
      // Exactly one of them stored under its own id (the first); the 99 others got that id back.
      expect(jobs.filter((job, n) => n % 21 !== 20 && job.id === ids[n])).toHaveLength(1);
      expect(new Set(deduplicated.map((job) => job.id))).toEqual(new Set([ids[0]]));
      for (let n = 20; n < 105; n += 21) expect(jobs[n].id).toBe(ids[n]);
      expect(await queue.getJobCountByTypes('waiting')).toBe(6);

      // A later bulk still sees the deduplication id: the first job's id again, nothing stored.
      const again = await new LeadEnqueuer(queue).add({ name: 'deliver-lead', data: { n: -1 }, opts: { jobId: randomUUID(), deduplication: dedup } });
      expect(again.id).toBe(ids[0]);
      expect(await queue.getJobCountByTypes('waiting')).toBe(6);
      bulk.mockRestore();
    });
  });

  describe('through the intake', () => {
    let stack: Stack;

    beforeAll(async () => {
      stack = await new Stack({ name: 'enqueuer-http', sandboxUrl: 'http://127.0.0.1:9', worker: false }).start();
    });
    afterAll(() => stack?.close());

    it('100 concurrent posts with one Idempotency-Key share bulks and still make exactly one job', async () => {
      const queue = stack.intake.get(LeadsQueue);
      const bulk = jest.spyOn(queue, 'addBulk');
      const add = jest.spyOn(queue, 'add');
      const did = distributionId();
      const body = lead({ distribution_id: did });
      const key = `order-${did}`;
      const answers = await Promise.all(
        Array.from({ length: 100 }, async () => {
          const response = await stack.postLead(body, { 'idempotency-key': key });
          return { status: response.status, replayed: response.headers.get('idempotent-replayed'), id: ((await response.json()) as { id: string }).id };
        }),
      );
      const sizes = bulk.mock.calls.map(([list]) => list.length);
      bulk.mockRestore();
      add.mockRestore();
      expect(add).not.toHaveBeenCalled();
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(100);
      expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
      expect(answers.filter((a) => a.status === 200 && a.replayed === 'true')).toHaveLength(99);
      expect(new Set(answers.map((a) => a.id)).size).toBe(1);
      expect(await queue.getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized')).toBe(1);

      const conflict = await stack.postLead(lead({ distribution_id: did }), { 'idempotency-key': key });
      expect(conflict.status).toBe(409);
    });

    it('answers every concurrent post 503 + Retry-After when Redis is unreachable', async () => {
      const { url, close } = await startIntakeWithoutRedis('enqueuer-noredis');
      try {
        const answers = await Promise.all(
          Array.from({ length: 20 }, async () => {
            const response = await fetch(`${url}/v1/leads`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'x-api-key': INTAKE_KEY },
              body: JSON.stringify(lead()),
            });
            await response.arrayBuffer();
            return `${response.status} ${response.headers.get('retry-after')}`;
          }),
        );
        expect(new Set(answers)).toEqual(new Set(['503 5']));
      } finally {
        await close();
      }
    });
  });
});
