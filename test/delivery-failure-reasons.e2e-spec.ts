import { Job, Queue } from 'bullmq';
import { keyPrefix, LEADS_QUEUE, RedisClient } from '@app/queue';
import { MAX_RATE_LIMIT_PAUSE_MS } from '@app/leads';
import { connectRedis } from './support/redis-keys';
import { distributionId, lead, SandboxControl, Stack, StartedSandbox, startStackWithSandbox, stopStackWithSandbox } from './support/stack';
import { waitFor } from './support/wait';

type Json = Record<string, any>;

/** Far beyond any real pause: about three years. */
const HOSTILE_RETRY_AFTER = '99999999';
const HOSTILE_MS = 99_999_999 * 1000;
const COOLDOWN_MS = 1_500;

/**
 * What ops read about a failed lead (the job's failure reason, as bull-board and
 * GET /v1/leads/{id} show it), and how far a hostile Retry-After can pause deliveries. The
 * sandbox answers over HTTP; the job is read from Redis as the dashboard reads it.
 */
describe('failure reasons in words, and Retry-After with a cap', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;
  let redis: RedisClient;
  let queue: Queue;

  const open = (started: Stack) => {
    redis = connectRedis(started.env);
    // Read-only observer, as the Stack's own: it must not write the queue's meta key.
    queue = new Queue(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(started.queuePrefix), skipMetasUpdate: true });
  };
  const close = async () => {
    await queue?.close();
    redis?.disconnect();
  };

  const post = async (target: Stack, body: Json): Promise<string> => {
    const response = await target.postLead(body);
    expect(response.status).toBe(202);
    return ((await response.json()) as Json).id as string;
  };

  describe('on a stack whose circuit-breaker cool-down is 1.5 s', () => {
    beforeAll(async () => {
      ({ sandbox, control, stack } = await startStackWithSandbox('reasons', { CIRCUIT_BREAKER_COOLDOWN_MS: String(COOLDOWN_MS) }));
      open(stack);
    });
    afterAll(async () => {
      await close();
      await stopStackWithSandbox({ sandbox, stack });
    });

    it("a 422 fails the lead with WeGroup's words as its reason: locations and messages, no values, no stack", async () => {
      const did = distributionId();
      const answer = {
        detail: [
          { loc: ['body', 'prospect', 'first_name'], msg: 'field required', type: 'value_error.missing', input: { last_name: 'Bar' } },
          { loc: ['body', 'prospect', 'risk_objects', 'cars', 0, 'vin'], msg: 'invalid vin WBA6L7100LFH65459', type: 'value_error', input: 'WBA6L7100LFH65459' },
        ],
      };
      await control.fault({ status: 422, count: 1, distribution_id: did, body: answer });
      const id = await post(stack, lead({ distribution_id: did }));
      const failed = await stack.waitForStatus(id, ['failed', 'delivered']);
      expect(failed.status).toBe('failed');

      const job = (await queue.getJob(id)) as Job;
      expect(job.failedReason).toBe('WeGroup answered 422: prospect.first_name: field required; prospect.risk_objects.cars.0.vin: invalid vin …');
      expect(job.stacktrace).toEqual([]);
      expect(JSON.stringify({ reason: job.failedReason, stack: job.stacktrace })).not.toMatch(/Bar|WBA6L7100LFH65459|\/apps\/|node_modules/);
      // WeGroup's whole answer stays in the sealed attempt log.
      expect(failed.attempts_log).toEqual([expect.objectContaining({ outcome: 'permanent', status_code: 422, body: JSON.stringify(answer) })]);
      expect(await control.requests(did)).toHaveLength(1);
    });

    it("a 503 asking to wait three years pauses deliveries only for the cool-down: both values recorded, the lead delivered next", async () => {
      const did = distributionId();
      await control.fault({ status: 503, count: 1, distribution_id: did, headers: { 'Retry-After': HOSTILE_RETRY_AFTER } });
      const id = await post(stack, lead({ distribution_id: did }));
      const delivered = await stack.waitForStatus(id, ['delivered', 'failed']);
      expect(delivered).toMatchObject({ status: 'delivered', attempts: 2 });
      expect(delivered.attempts_log[0]).toMatchObject({
        outcome: 'transient',
        status_code: 503,
        retry_after_ms: HOSTILE_MS,
        pause_ms: COOLDOWN_MS,
        next_delay_ms: COOLDOWN_MS,
      });
      expect((await control.requests(did)).map((request) => request.status)).toEqual([503, 201]);
    });
  });

  describe('on a stack of its own (the pause would hold up other tests)', () => {
    beforeAll(async () => {
      // Shutdown does not wait out the pause for in-flight deliveries: there are none.
      ({ sandbox, control, stack } = await startStackWithSandbox('reasons429', { WORKER_SHUTDOWN_TIMEOUT_MS: '1000' }));
      open(stack);
    });
    afterAll(async () => {
      await close();
      await stopStackWithSandbox({ sandbox, stack });
    });

    it('a 429 asking to wait three years pauses deliveries for at most an hour, without spending the attempt', async () => {
      const did = distributionId();
      await control.fault({ status: 429, count: 1, distribution_id: did, headers: { 'Retry-After': HOSTILE_RETRY_AFTER } });
      const id = await post(stack, lead({ distribution_id: did }));
      const held = await waitFor('the 429 to be recorded', async () => {
        const view = await stack.lead(id);
        return view.attempts_log?.length > 0 ? view : undefined;
      });
      expect(held.attempts_log[0]).toMatchObject({
        outcome: 'rate_limited',
        status_code: 429,
        retry_after_ms: HOSTILE_MS,
        pause_ms: MAX_RATE_LIMIT_PAUSE_MS,
        next_delay_ms: MAX_RATE_LIMIT_PAUSE_MS,
      });
      // The pause every worker obeys is the capped one (its key's TTL), not three years. The
      // worker sets it just after logging the attempt; until then the key is BullMQ's own counter.
      const ttl = await waitFor('the capped pause to be set', async () => {
        const left = await queue.getRateLimitTtl();
        return left > MAX_RATE_LIMIT_PAUSE_MS - 60_000 ? left : undefined;
      });
      expect(ttl).toBeLessThanOrEqual(MAX_RATE_LIMIT_PAUSE_MS);
      const job = (await queue.getJob(id)) as Job;
      expect({ attemptsMade: job.attemptsMade, state: await job.getState() }).toEqual({ attemptsMade: 0, state: 'waiting' });
      expect(await control.requests(did)).toHaveLength(1);
    });
  });
});
