import { randomBytes } from 'node:crypto';
import { SANDBOX_DEFAULTS } from '@app/wegroup';
import { AppProcess, freePort, ProcessGroup } from './support/processes';
import { deleteKeys, REDIS_URL, uniqueQueuePrefix } from './support/redis-keys';
import { distributionId, INTAKE_KEY, lead, OPS, refOf, SandboxControl, startSandbox, StartedSandbox, TEST_DATA_KEY } from './support/stack';
import { redisAddress, TcpProxy, viaProxy } from './support/tcp-proxy';
import { waitFor } from './support/wait';

/**
 * Fault injection with real processes: the built intake API and delivery worker
 * (dist/apps/…/main.js) run as children configured only through their environment, so a
 * test can SIGKILL or SIGTERM one, or cut them off from Redis. The WeGroup sandbox runs in
 * this process (a real HTTP server); every count asserted below comes from its own record
 * of the requests it received, never from timing.
 */

type Json = Record<string, any>;

interface PostedLead {
  id: string;
  /** prospect.external_ref.external_ref: unique per lead, so sandbox requests can be matched to it. */
  ref: string;
}

const HTTP_TIMEOUT_MS = 10_000;
/** Far above a passing run (seconds): the waits inside a test give up first, with the processes' output. */
const TEST_TIMEOUT_MS = 90_000;

/** How many 201 answers (leads created at "WeGroup") each lead got. */
function createdByRef(requests: Json[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of requests) {
    if (request.outcome === 'answered' && request.status === 201) counts.set(refOf(request)!, (counts.get(refOf(request)!) ?? 0) + 1);
  }
  return counts;
}

function newLead(did: string, tag: string): { ref: string; body: Json } {
  const ref = `${tag}-${randomBytes(6).toString('hex')}`;
  return {
    ref,
    body: lead({ distribution_id: did }, { external_ref: { external_ref: ref, external_ref_company: 'process-faults' }, email: `${ref}@example.com` }),
  };
}

async function http(what: string, url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: Json }> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  } catch (error) {
    throw new Error(`${what} got no answer within ${HTTP_TIMEOUT_MS} ms (${(error as Error).name}: ${(error as Error).message})`);
  }
  const text = await response.text();
  let body: Json = {};
  try {
    body = text ? (JSON.parse(text) as Json) : {};
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body };
}

function postLead(intakeUrl: string, body: Json) {
  return http('POST /v1/leads', `${intakeUrl}/v1/leads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': INTAKE_KEY },
    body: JSON.stringify(body),
  });
}

function getLead(intakeUrl: string, id: string) {
  return http(`GET /v1/leads/${id}`, `${intakeUrl}/v1/leads/${id}`, { headers: { 'x-api-key': INTAKE_KEY } });
}

async function postLeads(intakeUrl: string, did: string, count: number, tag: string): Promise<PostedLead[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const { ref, body } = newLead(did, `${tag}${i}`);
      const response = await postLead(intakeUrl, body);
      if (response.status !== 202) throw new Error(`POST /v1/leads answered ${response.status}: ${JSON.stringify(response.body)}`);
      return { id: response.body.id as string, ref };
    }),
  );
}

/**
 * Waits (while `watcher` is alive) until every lead has left the queue for good; fails with
 * the statuses last seen.
 */
async function waitUntilFinished(watcher: AppProcess, intakeUrl: string, leads: PostedLead[], timeoutMs = 30_000): Promise<Map<string, Json>> {
  return watcher.until(
    `${leads.length} leads to be delivered or failed`,
    async () => {
      const views = await Promise.all(leads.map(async (posted) => [posted.id, (await getLead(intakeUrl, posted.id)).body] as const));
      const pending = views.filter(([, view]) => view.status !== 'delivered' && view.status !== 'failed');
      if (pending.length > 0) {
        // Thrown, so a timeout says what was still pending.
        throw new Error(`still pending: ${pending.map(([id, view]) => `${id}=${view.status ?? JSON.stringify(view)}`).join(', ')}`);
      }
      return new Map(views);
    },
    { timeoutMs, intervalMs: 200 },
  );
}


describe('real processes under fire: SIGKILL, SIGTERM, and Redis going away', () => {
  const queuePrefix = uniqueQueuePrefix('procfaults');
  const processes = new ProcessGroup();
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let intake: AppProcess;
  let intakeUrl: string;
  let proxy: TcpProxy | undefined;

  /** The whole environment of a child: nothing else is inherited. */
  const env = (overrides: Record<string, string> = {}): Record<string, string> => ({
    REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
    WEGROUP_ENV: 'sandbox',
    WEGROUP_API_URL: sandbox.url,
    WEGROUP_API_TOKEN: SANDBOX_DEFAULTS.apiToken,
    INTAKE_API_KEYS: `test-crm:${INTAKE_KEY}`,
    OPS_USERNAME: OPS.username,
    OPS_PASSWORD: OPS.password,
    DATA_ENCRYPTION_KEY: TEST_DATA_KEY,
    DELIVERY_RETRY_SCHEDULE: '0.2,0.2,0.2',
    // Lock and stalled-check interval: a killed worker's leads go to another within seconds.
    DELIVERY_LOCK_MS: '2000',
    WORKER_SHUTDOWN_TIMEOUT_MS: '10000',
    WORKER_CONCURRENCY: '5',
    ...overrides,
  });

  /** The sandbox's global answer delay (every lead answer waits this long). */
  const setSandboxDelay = async (delayMs: number) => {
    const response = await http('PUT /_sandbox/behaviour', `${sandbox.url}/_sandbox/behaviour`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ delay_ms: delayMs }),
    });
    if (response.status !== 200) throw new Error(`sandbox refused delay ${delayMs}: ${response.status} ${JSON.stringify(response.body)}`);
  };

  beforeAll(async () => {
    sandbox = await startSandbox();
    control = new SandboxControl(sandbox.url);
    ({ process: intake, url: intakeUrl } = await processes.startIntake({ ...env(), PORT: String(await freePort()) }, 'intake'));
  }, 30_000);

  afterEach(async () => {
    // Whatever a test started dies with it (the shared intake stays); the sandbox is fast again.
    await processes.killAll([intake]);
    await proxy?.close();
    proxy = undefined;
    if (sandbox) await setSandboxDelay(0);
  });

  afterAll(async () => {
    await processes.killAll();
    await proxy?.close();
    await sandbox?.close();
    await deleteKeys(queuePrefix);
  });

  it(
    'SIGKILL mid-delivery: the next worker delivers every lead; only leads in flight at the kill are sent twice',
    processes.explain(async () => {
      const did = distributionId();
      const workerEnv = env({ WORKER_CONCURRENCY: '5' });
      await setSandboxDelay(3_000);
      const first = await processes.startWorker(workerEnv, 'worker-1');
      const leads = await postLeads(intakeUrl, did, 20, 'kill');

      await first.until('5 deliveries in flight at the sandbox', async () => (await control.requests(did)).length >= 5, { timeoutMs: 15_000 });
      first.signal('SIGKILL');
      expect(await first.waitForExit()).toEqual({ code: null, signal: 'SIGKILL' });
      await setSandboxDelay(0);

      // No worker is alive: everything the sandbox has now was sent by the killed one. It still
      // answers those requests (201, lead created) into closed sockets: acknowledgements lost.
      const inFlight = await waitFor(
        'the sandbox to answer every request of the killed worker',
        async () => {
          const requests = await control.requests(did);
          return requests.every((request) => request.outcome !== 'pending') && requests;
        },
        { timeoutMs: 15_000 },
      );
      expect(inFlight.length).toBeGreaterThanOrEqual(1);
      expect(inFlight.length).toBeLessThanOrEqual(5); // never more than its concurrency
      const inFlightRefs = new Set(inFlight.map(refOf));
      expect(inFlightRefs.size).toBe(inFlight.length);
      // None of those leads is marked delivered: the worker died before it could say so.
      for (const posted of leads.filter((l) => inFlightRefs.has(l.ref))) {
        expect((await getLead(intakeUrl, posted.id)).body.status).not.toBe('delivered');
      }

      const second = await processes.startWorker(workerEnv, 'worker-2');
      const finished = await waitUntilFinished(second, intakeUrl, leads);

      const requests = await control.requests(did);
      const created = createdByRef(requests);
      const postedRefs = new Set(leads.map((l) => l.ref));
      expect(requests.filter((request) => !postedRefs.has(refOf(request)!))).toEqual([]);
      for (const posted of leads) {
        const view = finished.get(posted.id)!;
        expect({ id: posted.id, status: view.status }).toEqual({ id: posted.id, status: 'delivered' });
        // At least one 201 from the sandbox for this lead's body: it reached WeGroup.
        expect({ ref: posted.ref, reachedWeGroup: (created.get(posted.ref) ?? 0) >= 1 }).toEqual({ ref: posted.ref, reachedWeGroup: true });
        // The lead id recorded is the one WeGroup gave the delivery the worker saw answered: the last.
        const last = requests.filter((request) => refOf(request) === posted.ref && request.status === 201).at(-1)!;
        expect(view.wegroup?.lead_id).toBe(last.lead_id);
      }
      const duplicates = [...created.values()].reduce((sum, n) => sum + (n - 1), 0);
      expect(duplicates).toBeLessThanOrEqual(inFlight.length);
      // A lead is sent twice only if it was in flight at the kill, and then at most twice.
      const twice = [...created].filter(([, n]) => n > 1);
      for (const [ref, n] of twice) {
        expect({ ref, inFlightAtKill: inFlightRefs.has(ref), created: n }).toEqual({ ref, inFlightAtKill: true, created: 2 });
      }
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'SIGTERM: in-flight deliveries finish, waiting leads are left to the next worker, the process exits cleanly',
    processes.explain(async () => {
      const did = distributionId();
      const workerEnv = env({ WORKER_CONCURRENCY: '2', WORKER_SHUTDOWN_TIMEOUT_MS: '10000' });
      await setSandboxDelay(2_000);
      const leads = await postLeads(intakeUrl, did, 6, 'term');
      const worker = await processes.startWorker(workerEnv, 'worker-term');

      await worker.until('2 deliveries in flight at the sandbox', async () => (await control.requests(did)).length >= 2, { timeoutMs: 15_000 });
      const signalledAt = worker.output.length;
      worker.signal('SIGTERM');
      const exit = await worker.waitForExit(20_000);
      expect(exit).toEqual({ code: 0, signal: null });
      const shutdownOutput = worker.output.slice(signalledAt);
      expect(shutdownOutput).not.toMatch(/did not finish in time|ERROR/);

      // It started no lead after the signal: the sandbox saw exactly the two in flight, both answered.
      const atExit = await control.requests(did);
      expect(atExit.map((request) => ({ outcome: request.outcome, status: request.status }))).toEqual([
        { outcome: 'answered', status: 201 },
        { outcome: 'answered', status: 201 },
      ]);
      const inFlightRefs = new Set(atExit.map(refOf));
      expect(inFlightRefs.size).toBe(2);

      // No other worker runs: the two were completed by the one shutting down; the rest never started.
      for (const posted of leads) {
        const view = (await getLead(intakeUrl, posted.id)).body;
        if (inFlightRefs.has(posted.ref)) {
          expect({ ref: posted.ref, status: view.status, attempts: view.attempts }).toEqual({ ref: posted.ref, status: 'delivered', attempts: 1 });
          expect(shutdownOutput).toContain(`Lead ${posted.id} delivered on attempt 1`);
        } else {
          expect({ ref: posted.ref, status: view.status, attempts: view.attempts }).toEqual({ ref: posted.ref, status: 'queued', attempts: 0 });
        }
      }
      await setSandboxDelay(0);
      // Still nothing new at the sandbox since the exit, right up to the next worker's start.
      expect((await control.requests(did)).map((request) => request.seq)).toEqual(atExit.map((request) => request.seq));

      const next = await processes.startWorker(workerEnv, 'worker-after-term');
      const finished = await waitUntilFinished(next, intakeUrl, leads);
      expect(leads.map((posted) => finished.get(posted.id)!.status)).toEqual(leads.map(() => 'delivered'));
      // A graceful stop sends nothing twice: six leads, six requests, one 201 each.
      const requests = await control.requests(did);
      expect(requests).toHaveLength(6);
      const created = createdByRef(requests);
      expect(leads.map((posted) => created.get(posted.ref))).toEqual(leads.map(() => 1));
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'Redis unreachable, then back: 503 + Retry-After at once (never a hang, never a false 202), and both apps recover without a restart',
    processes.explain(async () => {
      const did = distributionId();
      proxy = new TcpProxy(redisAddress(REDIS_URL));
      await proxy.start();
      const throughProxy = env({ REDIS_URL: viaProxy(REDIS_URL, proxy.port) });
      const api = await processes.startIntake({ ...throughProxy, PORT: String(await freePort()) }, 'intake-via-proxy');
      const worker = await processes.startWorker(throughProxy, 'worker-via-proxy');

      const answers: Array<{ ref: string; status: number; id?: string; phase: string }> = [];
      const post = async (phase: string) => {
        const { ref, body } = newLead(did, phase);
        const response = await postLead(api.url, body);
        answers.push({ ref, status: response.status, id: response.body.id, phase });
        return response;
      };

      // Through the proxy all is well.
      const before = await post('before');
      expect(before.status).toBe(202);
      await waitUntilFinished(worker, api.url, [{ id: before.body.id, ref: answers[0].ref }]);

      const apiMark = api.process.output.length;
      const workerMark = worker.output.length;
      await proxy.cut();

      for (let i = 0; i < 3; i++) {
        const refused = await post(`outage${i}`);
        expect({ status: refused.status, retryAfter: refused.headers.get('retry-after') }).toEqual({ status: 503, retryAfter: expect.stringMatching(/^[1-9]\d*$/) });
        expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(refused.body).toMatchObject({ status: 503, detail: expect.stringMatching(/Redis/) });
      }
      expect((await http('GET /health/ready', `${api.url}/health/ready`)).status).toBe(503);
      expect((await http('GET /health/live', `${api.url}/health/live`)).status).toBe(200);
      // Both apps saw Redis go (their reconnects are refused) and neither died of it.
      await api.process.waitForOutput(/Redis connection problem/, { from: apiMark });
      await worker.waitForOutput(/Redis connection problem/, { from: workerMark });
      expect([api.process.running, worker.running]).toEqual([true, true]);

      const acceptedBefore = proxy.accepted;
      await proxy.restore();
      const after = await api.process.until(
        'POST /v1/leads to answer 202 again',
        async () => {
          const response = await post('after');
          return response.status === 202 ? response : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 250 },
      );
      expect((await http('GET /health/ready', `${api.url}/health/ready`)).status).toBe(200);
      // Between cut and recovery every answer was a 503: no 500, no hang (a hang fails the POST).
      expect(answers.filter((a) => a.status !== 202 && a.status !== 503)).toEqual([]);

      // The same worker process delivers it: it reconnected on its own.
      const accepted = answers.filter((a) => a.status === 202).map((a) => ({ id: a.id!, ref: a.ref }));
      expect(accepted.map((a) => a.id)).toEqual([before.body.id, after.body.id]);
      const finished = await waitUntilFinished(worker, api.url, accepted);
      expect(accepted.map((a) => finished.get(a.id)!.status)).toEqual(['delivered', 'delivered']);
      expect([api.process.running, worker.running]).toEqual([true, true]);
      expect(proxy.accepted).toBeGreaterThan(acceptedBefore);

      // Every 202 is a lead that exists (GETtable) and reached WeGroup exactly once; no lead
      // answered 503 was stored, so none of them ever reached WeGroup.
      for (const a of accepted) expect((await getLead(api.url, a.id)).status).toBe(200);
      const created = createdByRef(await control.requests(did));
      expect(Object.fromEntries(created)).toEqual(Object.fromEntries(accepted.map((a) => [a.ref, 1])));
    }),
    TEST_TIMEOUT_MS,
  );
});
