import { readFileSync } from 'node:fs';
import { AppProcess, freePort, ProcessGroup } from './support/processes';
import { deleteKeys, REDIS_URL, uniqueQueuePrefix } from './support/redis-keys';
import { INTAKE_KEY, OPS, TEST_DATA_KEY } from './support/stack';

/**
 * Hostile bodies against the BUILT intake, started as production starts it (scripts/apps.js:
 * --max-old-space-size=128). A JSON body costs several times its size on the heap while it is
 * parsed and checked, so a few concurrent 5 MB batches of tiny fields used to kill the process
 * ("JavaScript heap out of memory"), with or without an API key. Now: a request without a valid
 * key is refused before its body is read, and the bytes of bodies in flight share a budget;
 * over it, 503 + Retry-After.
 */

/** The README's memory target for the intake (peak RSS, benchmark section). */
const RSS_CAP_BYTES = 250 * 1024 * 1024;
const TEST_TIMEOUT_MS = 120_000;

/** 500 leads of 1,000 tiny unknown fields each: just under the batch route's 5 MB. */
function hostileBatch(): string {
  const fields = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`k${String(i).padStart(4, '0')}`, 0]));
  const lead = { prospect: { first_name: 'a', last_name: 'b', ...fields } };
  return JSON.stringify({ leads: Array.from({ length: 500 }, () => lead) });
}

/** The process's peak resident set (VmHWM), from Linux's /proc. */
function peakRss(process: AppProcess): number {
  const status = readFileSync(`/proc/${process.child.pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

interface Outcome {
  status: number;
  retryAfter: string | null;
}

describe('concurrent large bodies against the built intake (heap capped at 128 MB)', () => {
  const processes = new ProcessGroup();
  const queuePrefix = uniqueQueuePrefix('body-budget');
  let intake: AppProcess;
  let url: string;
  const body = hostileBatch();

  beforeAll(async () => {
    expect(Buffer.byteLength(body)).toBeGreaterThan(4.75 * 1024 * 1024);
    expect(Buffer.byteLength(body)).toBeLessThan(5 * 1024 * 1024);
    ({ process: intake, url } = await processes.startIntake(
      {
        REDIS_URL,
        QUEUE_PREFIX: queuePrefix,
        PORT: String(await freePort()),
        INTAKE_API_KEYS: `test-crm:${INTAKE_KEY}`,
        OPS_USERNAME: OPS.username,
        OPS_PASSWORD: OPS.password,
        DATA_ENCRYPTION_KEY: TEST_DATA_KEY,
        INTAKE_RATE_LIMIT: '1000000',
        LOG_LEVEL: 'warn',
      },
      'intake',
    ));
  }, 30_000);

  afterAll(async () => {
    await processes.killAll();
    await deleteKeys(queuePrefix, { REDIS_URL });
  });

  /** Posts `count` hostile batches at once; a request the dying intake never answered counts as status 0. */
  const attack = async (count: number, headers: Record<string, string>): Promise<Outcome[]> =>
    Promise.all(
      Array.from({ length: count }, async () => {
        try {
          const response = await fetch(`${url}/v1/leads/batch`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
          await response.arrayBuffer();
          return { status: response.status, retryAfter: response.headers.get('retry-after') };
        } catch {
          return { status: 0, retryAfter: null };
        }
      }),
    );

  const expectAlive = async () => {
    expect(intake.running).toBe(true);
    const live = await fetch(`${url}/health/live`);
    await live.arrayBuffer();
    expect(live.status).toBe(200);
    expect(peakRss(intake)).toBeLessThan(RSS_CAP_BYTES);
  };

  it(
    'without an API key: 32 concurrent 5 MB bodies are each refused 401 before being read, and the intake stays up',
    processes.explain(async () => {
      const outcomes = await attack(32, {});
      const statuses = outcomes.map((outcome) => outcome.status);
      expect(statuses.filter((status) => status !== 401)).toEqual([]);
      await expectAlive();
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'with an API key: 8 concurrent 5 MB bodies are each answered (the extra ones 503 + Retry-After), and the intake stays up',
    processes.explain(async () => {
      const outcomes = await attack(8, { 'x-api-key': INTAKE_KEY });
      // Answered, each: checked (400: too many fields), or turned away while the budget is full.
      for (const outcome of outcomes) {
        expect([400, 503]).toContain(outcome.status);
        if (outcome.status === 503) expect(Number(outcome.retryAfter)).toBeGreaterThanOrEqual(1);
      }
      expect(outcomes.filter((outcome) => outcome.status === 400).length).toBeGreaterThanOrEqual(1);
      expect(outcomes.filter((outcome) => outcome.status === 503).length).toBeGreaterThanOrEqual(1);
      await expectAlive();
      // Once the others are done, the budget is free again: a batch is read and checked.
      const [after] = await attack(1, { 'x-api-key': INTAKE_KEY });
      expect(after.status).toBe(400);
      await expectAlive();
    }),
    TEST_TIMEOUT_MS,
  );
});
