import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { keyPrefix, LEADS_QUEUE } from '@app/queue';
import { AppProcess, distinctFreePorts, ProcessGroup } from './support/processes';
import { REDIS_URL } from './support/redis-keys';
import { distributionId, lead, refOf, SandboxControl, Stack, startSandbox, StartedSandbox } from './support/stack';

/**
 * Scale-out: several delivery-worker processes (the built dist/ app, as in production) share
 * one queue. A backlog is in Redis before any worker starts; two workers then drain it. Every
 * lead must reach the sandbox exactly once (no lead delivered twice, none left behind) and
 * both workers must have taken part (the queue stays paused until both are ready). The intake runs in this process (it only fills the
 * backlog); the counts come from the sandbox's own records and each worker's /metrics.
 */

type Json = Record<string, any>;

const BACKLOG = 1_000;
const WORKER_CONCURRENCY = 10;
const POST_PARALLELISM = 50;
const TEST_TIMEOUT_MS = 120_000;

/** The sandbox's requests per lead (external_ref). */
function byRef(requests: Json[]): Map<string, Json[]> {
  const perRef = new Map<string, Json[]>();
  for (const request of requests) {
    const ref = refOf(request) ?? '(no external_ref)';
    perRef.set(ref, [...(perRef.get(ref) ?? []), request]);
  }
  return perRef;
}

/** Until the worker's GET /health/ready answers 200: Redis answers and it consumes the queue (a paused queue too). */
async function waitUntilReady(worker: AppProcess, metricsPort: number): Promise<void> {
  await worker.until(`${worker.label} GET /health/ready to answer 200`, async () => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/health/ready`, { signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    return response.status === 200;
  });
}

/** `wegroup_leads_deliveries_total{outcome="delivered",status_code="201"}` of one worker. */
async function deliveredBy(worker: AppProcess, metricsPort: number): Promise<number> {
  return worker.until(`${worker.label} /metrics`, async () => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    const match = /^wegroup_leads_deliveries_total\{outcome="delivered",status_code="201"\} (\d+)$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  });
}

describe('scale-out: several worker processes on one queue', () => {
  const processes = new ProcessGroup();
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;
  let redis: Redis;
  let queue: Queue;

  beforeAll(async () => {
    sandbox = await startSandbox();
    control = new SandboxControl(sandbox.url);
    // The intake only; the workers are separate processes started by each test.
    stack = await new Stack({ name: 'scaleout', sandboxUrl: sandbox.url, worker: false }).start();
    redis = new Redis(REDIS_URL);
    // An observer that writes no meta at start; its pause/resume (the meta key) go with the prefix at stack.close().
    queue = new Queue(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(stack.queuePrefix), skipMetasUpdate: true });
  }, 30_000);

  afterEach(async () => {
    await processes.killAll();
    // A test that failed between pause() and resume() must not leave the next one a paused queue.
    if (await queue.isPaused()) await queue.resume();
  });

  afterAll(async () => {
    await processes.killAll();
    await queue?.close();
    redis?.disconnect();
    await stack?.close();
    await sandbox?.close();
  });

  /** Every lead answer of the sandbox takes this long. */
  async function setSandboxDelay(delayMs: number): Promise<void> {
    const response = await fetch(`${sandbox.url}/_sandbox/behaviour`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ delay_ms: delayMs }),
    });
    expect(response.status).toBe(200);
    // The sandbox keeps the last max_records requests: a whole run must fit.
    expect(((await response.json()) as Json).max_records).toBeGreaterThanOrEqual(BACKLOG * 2);
  }

  /** Posts `count` leads through the intake, POST_PARALLELISM at a time; their external_refs. */
  async function postBacklog(did: string, count: number): Promise<string[]> {
    const refs: string[] = [];
    for (let next = 0; next < count; ) {
      const batch = Array.from({ length: Math.min(POST_PARALLELISM, count - next) }, () => {
        const ref = `scale-${randomBytes(8).toString('hex')}`;
        refs.push(ref);
        return lead({ distribution_id: did }, { external_ref: { external_ref: ref, external_ref_company: 'scale-out' } });
      });
      next += batch.length;
      const answers = await Promise.all(batch.map((body) => stack.postLead(body)));
      for (const answer of answers) {
        await answer.arrayBuffer();
        expect(answer.status).toBe(202);
      }
    }
    expect(new Set(refs).size).toBe(count);
    return refs;
  }

  /**
   * Worker processes, each with its own metrics port (the default 9464 would collide). All
   * with a short lock: a dead worker's leads go back to the queue within seconds. (BullMQ runs
   * one stalled-job check per stalledInterval for all workers, timed by whoever checked last,
   * so every worker of the file uses the same value.)
   */
  async function startWorkers(count: number): Promise<Array<{ worker: AppProcess; metricsPort: number }>> {
    const ports = await distinctFreePorts(count);
    return Promise.all(
      ports.map(async (metricsPort, i) => ({
        worker: await processes.startWorker(
          { ...stack.env, WORKER_CONCURRENCY: String(WORKER_CONCURRENCY), DELIVERY_LOCK_MS: '2000', METRICS_PORT: String(metricsPort) },
          `worker-${i + 1}`,
        ),
        metricsPort,
      })),
    );
  }

  /** Until `total` jobs of this queue have completed or failed (others' jobs count too: pass the total). */
  async function waitUntilFinished(watcher: AppProcess, total: number): Promise<Record<string, number>> {
    return watcher.until(
      `${total} jobs to complete`,
      async () => {
        const now = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
        if (now.completed + now.failed < total) throw new Error(`not yet: ${JSON.stringify(now)}`);
        return now;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
  }

  it(
    `two worker processes drain a backlog of ${BACKLOG} with no lead delivered twice and none left behind`,
    processes.explain(async () => {
      const did = distributionId();
      // One worker alone would need at least BACKLOG × 20 ms / concurrency = 2 s: both get work
      // (each job a worker takes wakes the other, and neither sees a job before both are ready).
      await setSandboxDelay(20);

      // 1. The backlog, with no worker running.
      const before = await queue.getJobCounts('completed', 'failed');
      const refs = await postBacklog(did, BACKLOG);
      expect(await queue.getJobCounts('waiting', 'active')).toEqual({ waiting: BACKLOG, active: 0 });
      expect(await control.requests(did)).toEqual([]);

      // 2. Two workers, both ready before any job is handed out (as bench/run.js drain()), 3. until every job completed.
      await queue.pause();
      const workers = await startWorkers(2);
      await Promise.all(workers.map(({ worker, metricsPort }) => waitUntilReady(worker, metricsPort)));
      await queue.resume();
      const counts = await waitUntilFinished(workers[0].worker, before.completed + before.failed + BACKLOG);
      expect(counts).toEqual({ waiting: 0, prioritized: 0, delayed: 0, active: 0, completed: before.completed + BACKLOG, failed: before.failed });

      // Every lead reached the sandbox exactly once: one request, answered 201.
      const requests = await control.requests(did);
      const perRef = byRef(requests);
      const missing = refs.filter((ref) => !perRef.has(ref));
      const twice = [...perRef].filter(([, seen]) => seen.length > 1).map(([ref, seen]) => `${ref} x${seen.length}`);
      const strangers = [...perRef.keys()].filter((ref) => !refs.includes(ref));
      expect({ missing, twice, strangers }).toEqual({ missing: [], twice: [], strangers: [] });
      expect(requests).toHaveLength(BACKLOG);
      expect(requests.filter((request) => request.outcome !== 'answered' || request.status !== 201)).toEqual([]);
      expect(new Set(requests.map((request) => request.lead_id)).size).toBe(BACKLOG);

      // Both workers took part, and together they account for every delivery.
      const delivered = await Promise.all(workers.map(({ worker, metricsPort }) => deliveredBy(worker, metricsPort)));
      expect(delivered[0] + delivered[1]).toBe(BACKLOG);
      expect(delivered[0]).toBeGreaterThan(0);
      expect(delivered[1]).toBeGreaterThan(0);
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'SIGKILL of one of two workers mid-backlog: the survivor delivers the rest, repeating only what the dead one had in flight',
    processes.explain(async () => {
      const did = distributionId();
      const backlog = 300;
      await setSandboxDelay(100);
      const before = await queue.getJobCounts('completed', 'failed');
      const refs = await postBacklog(did, backlog);

      const [victim, survivor] = await startWorkers(2);
      await victim.worker.until('a third of the backlog to reach the sandbox', async () => (await control.requests(did)).length >= backlog / 3, {
        timeoutMs: 30_000,
      });
      victim.worker.signal('SIGKILL');
      expect(await victim.worker.waitForExit()).toEqual({ code: null, signal: 'SIGKILL' });
      // Paused, the survivor takes no new lead: once the request count holds still (the same on
      // two reads 300 ms apart), what the dead worker had sent has arrived, and every later
      // request is the survivor's. (The few the survivor sent between the kill and the pause
      // count as before the kill; without the pause the count would never hold still.)
      await queue.pause();
      let seen = -1;
      const atKill = await survivor.worker.until(
        'the sandbox request count to hold still',
        async () => {
          const requests = await control.requests(did);
          const settled = requests.length === seen;
          seen = requests.length;
          return settled ? requests : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 300 },
      );
      const lastSeqAtKill = Math.max(...atKill.map((request) => request.seq as number));
      await queue.resume();

      const counts = await waitUntilFinished(survivor.worker, before.completed + before.failed + backlog);
      expect(counts).toEqual({ waiting: 0, prioritized: 0, delayed: 0, active: 0, completed: before.completed + backlog, failed: before.failed });

      const perRef = byRef(await control.requests(did));
      expect(refs.filter((ref) => !(perRef.get(ref) ?? []).some((request) => request.status === 201))).toEqual([]);
      expect([...perRef.keys()].filter((ref) => !refs.includes(ref))).toEqual([]);
      // A lead is sent twice only if the dead worker had it in flight: sent before the kill,
      // at most its concurrency of them, and each at most twice.
      const repeated = [...perRef].filter(([, seen]) => seen.length > 1);
      expect(repeated.length).toBeLessThanOrEqual(WORKER_CONCURRENCY);
      for (const [ref, seen] of repeated) {
        expect({ ref, times: seen.length, firstBeforeKill: seen[0].seq <= lastSeqAtKill }).toEqual({ ref, times: 2, firstBeforeKill: true });
      }
      expect(survivor.worker.running).toBe(true);
    }),
    TEST_TIMEOUT_MS,
  );
});
