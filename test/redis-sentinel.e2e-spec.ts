import { randomBytes } from 'node:crypto';
import { SANDBOX_DEFAULTS } from '@app/wegroup';
import { AppProcess, freePort, ProcessGroup } from './support/processes';
import { RedisSentinelSet } from './support/redis-sentinel';
import { uniqueQueuePrefix } from './support/redis-keys';
import { distributionId, INTAKE_KEY, lead, OPS, refOf, SandboxControl, startSandbox, StartedSandbox, TEST_DATA_KEY } from './support/stack';
import { waitFor } from './support/wait';

/**
 * Redis behind Sentinel, and its primary SIGKILLed while CRMs keep posting: the built intake
 * API and delivery worker (real processes, configured with REDIS_SENTINELS and
 * REDIS_SENTINEL_NAME only) must follow the promotion on their own, and every lead that got
 * a 202 must reach the sandbox. A CRM that gets a 503 (or no answer) retries the same lead,
 * with the same external_ref, so the retry is idempotent: only a 202/200 counts as accepted.
 * The intake runs with REDIS_WAIT_REPLICAS=1, so a 202 means a replica holds the lead too;
 * the killed node is brought back as a replica of the promoted one so acceptance resumes.
 *
 * Redis here is private to this file (primary, replica, Sentinels on free ports), never the
 * shared server.
 */

type Json = Record<string, any>;

interface Accepted {
  ref: string;
  id: string;
  /** How many answers were 503 or missing before this lead was accepted. */
  retries: number;
}

const HTTP_TIMEOUT_MS = 3_000;
/** CRMs posting at the same time, each one lead after the other. */
const CLIENTS = 4;
const WORKER_CONCURRENCY = 10;
/** A CRM retries one lead this long (a failover takes a few seconds), then reports it. */
const GIVE_UP_MS = 12_000;
const TEST_TIMEOUT_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * CRMs posting leads until told to stop. Each retries its current lead until it is accepted
 * (202, or 200 when an earlier try was stored after all) and finishes it before stopping, so
 * every lead posted ends up accepted.
 */
function startPosting(intakeUrl: string, did: string) {
  const accepted: Accepted[] = [];
  const unexpected: string[] = [];
  let unavailable = 0;
  let stopping = false;
  const client = async (n: number) => {
    for (let i = 0; !stopping; i++) {
      const ref = `sentinel-${n}-${i}-${randomBytes(4).toString('hex')}`;
      const body = JSON.stringify(lead({ distribution_id: did }, { external_ref: { external_ref: ref, external_ref_company: 'sentinel' } }));
      const firstTry = Date.now();
      for (let retries = 0; ; retries++) {
        let status = 0;
        let answer: Json = {};
        try {
          const response = await fetch(`${intakeUrl}/v1/leads`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-api-key': INTAKE_KEY },
            body,
            signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
          });
          status = response.status;
          answer = (await response.json()) as Json;
        } catch {
          // No answer: like a 503, the lead may or may not be stored; the retry finds out.
        }
        if (status === 202 || status === 200) {
          accepted.push({ ref, id: answer.id, retries });
          break;
        }
        if (status !== 503 && status !== 0) {
          unexpected.push(`${ref}: ${status} ${JSON.stringify(answer)}`);
          return;
        }
        unavailable++;
        if (Date.now() - firstTry > GIVE_UP_MS) {
          unexpected.push(`${ref}: still not accepted after ${retries + 1} tries in ${GIVE_UP_MS} ms`);
          return;
        }
        await sleep(100);
      }
    }
  };
  const running = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
  return {
    accepted,
    unexpected,
    get unavailable() {
      return unavailable;
    },
    async stop(): Promise<void> {
      stopping = true;
      await running;
    },
  };
}

async function status(url: string): Promise<number> {
  const response = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  await response.arrayBuffer();
  return response.status;
}

describe('Redis Sentinel: the primary dies while leads keep coming', () => {
  const processes = new ProcessGroup();
  let redis: RedisSentinelSet | undefined;
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let intake: AppProcess;
  let intakeUrl: string;
  let worker: AppProcess;
  let metricsPort: number;

  beforeAll(async () => {
    [redis, sandbox] = await Promise.all([RedisSentinelSet.start({ sentinels: 3 }), startSandbox()]);
    control = new SandboxControl(sandbox.url);
    metricsPort = await freePort();
    // The whole environment of each child: Redis is found through the Sentinels only.
    const env: Record<string, string> = {
      REDIS_SENTINELS: redis.sentinels,
      REDIS_SENTINEL_NAME: redis.name,
      QUEUE_PREFIX: uniqueQueuePrefix('sentinel'),
      WEGROUP_ENV: 'sandbox',
      WEGROUP_API_URL: sandbox.url,
      WEGROUP_API_TOKEN: SANDBOX_DEFAULTS.apiToken,
      INTAKE_API_KEYS: `test-crm:${INTAKE_KEY}`,
      INTAKE_RATE_LIMIT: '1000000',
      OPS_USERNAME: OPS.username,
      OPS_PASSWORD: OPS.password,
      DATA_ENCRYPTION_KEY: TEST_DATA_KEY,
      // A 202 only once the replica holds the lead: what makes "no accepted lead is lost in a
      // failover" hold, rather than depend on the replica having caught up by chance.
      REDIS_WAIT_REPLICAS: '1',
      DELIVERY_RETRY_SCHEDULE: '0.2,0.2,0.2,0.2,0.2',
      // A delivery whose completion was lost with the primary is taken up again within seconds.
      DELIVERY_LOCK_MS: '2000',
      WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
    };
    // warn: the failure report shows what went wrong with Redis, not thousands of request lines.
    const quiet = { LOG_LEVEL: 'warn' };
    worker = processes.spawn('delivery-worker', { ...env, ...quiet, METRICS_PORT: String(metricsPort) }, 'worker');
    [{ process: intake, url: intakeUrl }] = await Promise.all([
      processes.startIntake({ ...env, ...quiet, PORT: String(await freePort()) }, 'intake'),
      worker.until('the worker to be ready', async () => (await status(`http://127.0.0.1:${metricsPort}/health/ready`)) === 200),
    ]);
  }, 45_000);

  /** processes.explain, plus what the Redis processes said. */
  const explain = (body: () => Promise<void>) =>
    processes.explain(async () => {
      try {
        await body();
      } catch (error) {
        if (error instanceof Error && redis) error.message += `\n\nRedis:${redis.report()}`;
        throw error;
      }
    });

  afterAll(async () => {
    await processes.killAll();
    await redis?.stop();
    await sandbox?.close();
  });

  it(
    'every lead answered 202 is delivered, across a forced failover, without restarting intake or worker',
    explain(async () => {
      const set = redis!;
      const did = distributionId();
      const posting = startPosting(intakeUrl, did);
      try {
        await waitFor('100 leads accepted before the failover', async () => posting.accepted.length >= 100 || posting.unexpected.length > 0, { timeoutMs: 15_000 });
        expect(posting.unexpected).toEqual([]);

        await set.killPrimary();
        const promoted = await set.waitForFailover();
        expect(promoted.port).toBe(set.replicaPort);
        // The new primary has no replica until the old one is back: the intake answers 503 (the
        // CRMs retry) rather than accept leads that a second failure would lose.
        await set.restartOldPrimary();

        // Acceptance resumes on the new primary, through the same processes.
        const atPromotion = posting.accepted.length;
        await waitFor(
          '100 more leads accepted after the promotion',
          async () => posting.accepted.length >= atPromotion + 100 || posting.unexpected.length > 0,
          { timeoutMs: 20_000 },
        );
      } finally {
        await posting.stop();
      }
      expect(posting.unexpected).toEqual([]);
      const accepted = posting.accepted;
      const refs = new Set(accepted.map((a) => a.ref));
      expect(refs.size).toBe(accepted.length);

      // The CRMs did see the outage (503s, retried), so leads were posted across the failover.
      expect(posting.unavailable).toBeGreaterThan(0);

      // Every accepted lead ends delivered, as the intake reads it from the new primary.
      const pending = new Set(accepted.map((a) => a.id));
      await waitFor(
        `${accepted.length} accepted leads to be delivered`,
        async () => {
          for (const id of [...pending]) {
            const response = await fetch(`${intakeUrl}/v1/leads/${id}`, { headers: { 'x-api-key': INTAKE_KEY }, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
            const view = (await response.json()) as Json;
            if (view.status !== 'delivered') throw new Error(`${pending.size} not delivered yet, e.g. ${id}: ${response.status} ${JSON.stringify(view)}`);
            pending.delete(id);
          }
          return true;
        },
        { timeoutMs: 25_000, intervalMs: 250 },
      );

      // And the sandbox got each of them at least once (a delivery whose completion was lost
      // with the primary is sent again), and nothing we did not post.
      const requests = await control.requests(did);
      const perRef = new Map<string, number>();
      for (const request of requests) if (request.outcome === 'answered' && request.status === 201) perRef.set(refOf(request)!, (perRef.get(refOf(request)!) ?? 0) + 1);
      expect(accepted.filter((a) => !perRef.has(a.ref)).map((a) => a.ref)).toEqual([]);
      expect(requests.filter((r) => !refs.has(refOf(r)!)).map(refOf)).toEqual([]);
      const duplicates = [...perRef.values()].reduce((sum, n) => sum + n - 1, 0);
      // Only deliveries in flight when the primary died can be repeated: at most the concurrency.
      expect(duplicates).toBeLessThanOrEqual(WORKER_CONCURRENCY);

      // Neither process restarted, and both are ready on the new primary.
      expect({ intake: intake.running, worker: worker.running }).toEqual({ intake: true, worker: true });
      expect(await status(`${intakeUrl}/health/ready`)).toBe(200);
      expect(await status(`http://127.0.0.1:${metricsPort}/health/ready`)).toBe(200);
    }),
    TEST_TIMEOUT_MS,
  );
});
