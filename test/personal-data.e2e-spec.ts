import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { keyPrefix } from '@app/queue';
import { createWorkerApp } from '../apps/delivery-worker/src/worker.app';
import { readWorkerAppConfig } from '../apps/delivery-worker/src/worker.config';
import { RetentionSweeper } from '../apps/delivery-worker/src/retention.sweeper';
import { REDIS_URL } from './support/redis-keys';
import {
  distributionId,
  lead,
  OPS_AUTH,
  SandboxControl,
  Stack,
  StartedSandbox,
  startStackWithSandbox,
  stopStackWithSandbox,
  TEST_LOGGER,
} from './support/stack';

type Json = Record<string, any>;

/** Every value under a prefix, whatever the key type, as one string to search. */
async function dumpKeys(redis: Redis, queuePrefix: string): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix(queuePrefix)}:*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === 'string') parts.push(String(await redis.get(key)));
      else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
      else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

describe('personal data: encrypted at rest, erased on request, scrubbed after retention', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;
  let redis: Redis;

  beforeAll(async () => {
    ({ sandbox, control, stack } = await startStackWithSandbox('pii'));
    redis = new Redis(REDIS_URL);
  });

  afterAll(async () => {
    redis?.disconnect();
    await stopStackWithSandbox({ sandbox, stack });
  });

  const ops = async (path: string, method = 'GET') => {
    const response = await fetch(`${stack.url}${path}`, { method, headers: { authorization: OPS_AUTH } });
    return { status: response.status, body: (await response.json()) as Json };
  };

  const person = () => {
    const tag = randomBytes(4).toString('hex');
    return { first_name: `Ingrid${tag}`, last_name: `Vermeulen${tag}`, email: `ingrid.${tag}@example.be`, phone: `+32470${tag}` };
  };

  it('keeps no prospect name, e-mail or phone in clear anywhere in Redis, before and after delivery', async () => {
    const did = distributionId();
    const prospect = person();
    await control.fault({ status: 422, count: 1, distribution_id: did, body: { detail: `email ${prospect.email} is not allowed` } });
    const failed = (await (await stack.postLead(lead({ distribution_id: did }, prospect))).json()) as Json;
    const delivered = (await (await stack.postLead(lead({}, prospect))).json()) as Json;
    await stack.waitForStatus(failed.id, ['failed']);
    await stack.waitForStatus(delivered.id, ['delivered']);

    const everything = await dumpKeys(redis, stack.queuePrefix);
    expect(everything.length).toBeGreaterThan(1000);
    for (const value of Object.values(prospect)) expect(everything).not.toContain(value);

    // The status API still tells the whole story to those allowed to read it.
    const view = await stack.lead(failed.id);
    expect(view.last_error).toBe(`WeGroup answered 422: email ${prospect.email} is not allowed`);
    // The dashboard shows the job, with its lead data sealed.
    const board = await fetch(`${stack.url}/ops/queues/api/queues/leads/${delivered.id}`, { headers: { authorization: OPS_AUTH } });
    const boardText = await board.text();
    expect(board.status).toBe(200);
    expect(boardText).toContain(delivered.id);
    for (const value of Object.values(prospect)) expect(boardText).not.toContain(value);
  });

  it('erases a delivered lead on request: its data goes, its metadata stays, and it says so', async () => {
    const prospect = person();
    const { id } = (await (await stack.postLead(lead({}, prospect))).json()) as Json;
    await stack.waitForStatus(id, ['delivered']);

    expect((await fetch(`${stack.url}/v1/leads/${id}`, { method: 'DELETE' })).status).toBe(401);
    const erased = await ops(`/v1/leads/${id}`, 'DELETE');
    expect(erased).toMatchObject({ status: 200, body: { id, delivery_cancelled: false, removed: expect.arrayContaining(['lead data (prospect and request body)']) } });

    const view = await stack.lead(id);
    expect(view).toMatchObject({ status: 'delivered', personal_data_erased_at: expect.any(String), wegroup: { status_code: 201, lead_id: expect.any(String) } });
    expect(view.attempts_log).toEqual([expect.objectContaining({ outcome: 'delivered', status_code: 201, body: null })]);
    const job = await redis.hgetall(`${keyPrefix(stack.queuePrefix)}:leads:${id}`);
    expect(JSON.parse(job.data).sealed_lead).toBeNull();
    expect((await ops(`/v1/leads/${id}`, 'DELETE')).body.removed).toEqual([]);
  });

  it('cancels a lead that is still queued, so it never reaches WeGroup', async () => {
    await stack.stopWorker();
    try {
      const did = distributionId();
      const { id } = (await (await stack.postLead(lead({ distribution_id: did }, person()))).json()) as Json;
      const erased = await ops(`/v1/leads/${id}`, 'DELETE');
      expect(erased.body).toMatchObject({ delivery_cancelled: true, removed: expect.arrayContaining(['the queued delivery (cancelled)']) });
      expect((await stack.lead(id)).http_status).toBe(404);
      await stack.startWorker();
      await stack.waitUntilDrained();
      expect(await control.requests(did)).toHaveLength(0);
    } finally {
      if (!stack.worker) await stack.startWorker();
    }
  });

  it('removes the personal data of delivered leads after the retention, keeping the metadata', async () => {
    const prospect = person();
    const { id } = (await (await stack.postLead(lead({}, prospect))).json()) as Json;
    await stack.waitForStatus(id, ['delivered']);
    const sweeper = stack.worker!.get(RetentionSweeper);
    expect(await sweeper.sweep()).toBe(0); // nothing is old enough yet
    const scrubbed = await sweeper.sweep(Date.now() + 8 * 86_400_000);
    expect(scrubbed).toBeGreaterThanOrEqual(1);
    expect(await stack.lead(id)).toMatchObject({ status: 'delivered', personal_data_erased_at: expect.any(String), source: 'test-crm' });
  });

  it('reads data sealed under an old key after a rotation', async () => {
    await stack.stopWorker();
    const did = distributionId();
    const { id } = (await (await stack.postLead(lead({ distribution_id: did }, person()))).json()) as Json;
    const rotated = await createWorkerApp(
      readWorkerAppConfig({
        ...stack.env,
        DATA_ENCRYPTION_KEY: `next:${randomBytes(32).toString('base64')}`,
        DATA_ENCRYPTION_OLD_KEYS: stack.env.DATA_ENCRYPTION_KEY,
      }),
      { logger: TEST_LOGGER },
    );
    try {
      await stack.waitForStatus(id, ['delivered']);
      expect(await control.requests(did)).toHaveLength(1);
    } finally {
      await rotated.close();
      await stack.startWorker();
    }
  });
});
