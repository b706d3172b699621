import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { keyPrefix, LEADS_QUEUE, LeadsQueue } from '@app/queue';
import { AppProcess, freePort } from './support/processes';
import { distributionId, INTAKE_KEY, lead, OPS_AUTH, Stack } from './support/stack';
import { waitFor } from './support/wait';

/**
 * REDIS_WAIT_REPLICAS=1: a 202 means a replica has the lead too, so it survives a failover.
 * A private primary and replica (redis-server child processes on free ports, nothing
 * persisted) and the intake in this process, writing to the primary. Pausing the replica
 * (SIGSTOP) makes WAIT fall short: the lead is answered 503 + Retry-After, and the retry with
 * the same Idempotency-Key, once the replica is back, is answered without a duplicate.
 */

const HOST = '127.0.0.1';
// Generous: on a busy CI machine a healthy replica's acknowledgement must never miss it.
const WAIT_TIMEOUT_MS = 1_000;

type Json = Record<string, any>;

async function startRedis(parent: string, label: string, port: number, extra: string[] = []): Promise<AppProcess> {
  const dir = path.join(parent, label);
  await mkdir(dir);
  const args = ['--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'];
  const node = new AppProcess(`redis ${label} :${port}`, spawn('redis-server', [...args, '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const client = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await node.until(`${label} to answer PING`, async () => (await client.connect().then(() => client.ping(), () => undefined)) === 'PONG', { timeoutMs: 10_000 });
  } finally {
    client.disconnect();
  }
  return node;
}

describe('REDIS_WAIT_REPLICAS: a 202 only once a replica has the lead', () => {
  let dir: string;
  let primary: AppProcess | undefined;
  let replica: AppProcess | undefined;
  let replicaClient: Redis;
  let stack: Stack | undefined;
  const killOnExit = () => [primary, replica].forEach((node) => node?.signal('SIGKILL'));

  const post = (body: Json, key: string) => stack!.postLead(body, { 'idempotency-key': key });
  const jobKey = (id: string) => `${keyPrefix(stack!.queuePrefix)}:${LEADS_QUEUE}:${id}`;
  const shortfalls = async () => {
    const text = await (await fetch(`${stack!.url}/metrics`, { headers: { authorization: OPS_AUTH } })).text();
    const line = text.split('\n').find((l) => l.startsWith('wegroup_leads_intake_redis_wait_shortfalls_total '));
    return Number(line?.split(' ').at(-1));
  };

  beforeAll(async () => {
    process.once('exit', killOnExit);
    dir = await mkdtemp(path.join(tmpdir(), 'redis-wait-'));
    const [primaryPort, replicaPort] = [await freePort(), await freePort()];
    primary = await startRedis(dir, 'primary', primaryPort);
    replica = await startRedis(dir, 'replica', replicaPort, ['--replicaof', HOST, String(primaryPort)]);
    replicaClient = new Redis({ host: HOST, port: replicaPort, maxRetriesPerRequest: 1 });
    replicaClient.on('error', () => undefined);
    await replica.until('the replica to be in sync', async () => /master_link_status:up/.test(await replicaClient.info('replication')), { timeoutMs: 15_000 });
    stack = await new Stack({
      name: 'wait-replicas',
      sandboxUrl: 'http://127.0.0.1:9', // no worker: nothing is delivered
      worker: false,
      env: { REDIS_URL: `redis://${HOST}:${primaryPort}`, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS) },
    }).start();
    // The intake's producer connection fails fast while it is still connecting: wait for it.
    await waitFor('the intake to be ready', async () => (await fetch(`${stack!.url}/health/ready`)).status === 200, { timeoutMs: 15_000 });
  }, 60_000);

  afterAll(async () => {
    replica?.signal('SIGCONT');
    await stack?.close();
    replicaClient?.disconnect();
    await Promise.all([primary?.kill(), replica?.kill()]);
    process.removeListener('exit', killOnExit);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers 202 once the replica has the lead; 503 with Retry-After while it is paused; the retry then succeeds once', async () => {
    const did = distributionId();
    const first = await post(lead({ distribution_id: did }), randomUUID());
    const firstBody = (await first.json()) as Json;
    expect({ status: first.status, detail: firstBody.detail }).toEqual({ status: 202, detail: undefined });
    const { id } = firstBody;
    // No polling: WAIT returned, so the replica has it already.
    expect(await replicaClient.exists(jobKey(id))).toBe(1);
    expect(await shortfalls()).toBe(0);

    replica!.signal('SIGSTOP');
    const key = randomUUID();
    const body = lead({ distribution_id: did });
    const refused = await post(body, key);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    const problem = (await refused.json()) as Json;
    expect(problem.detail).toContain('may have been stored');
    expect(problem.detail).toContain('same Idempotency-Key');
    expect(await shortfalls()).toBe(1);

    // The batch route goes through the same enqueuer: refused as a whole, the same way.
    const batch = await fetch(`${stack!.url}/v1/leads/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': INTAKE_KEY },
      body: JSON.stringify({ leads: [lead({ distribution_id: did }), lead({ distribution_id: did })] }),
    });
    expect(batch.status).toBe(503);
    expect(batch.headers.get('retry-after')).toBe('5');
    expect(((await batch.json()) as Json).detail).toContain('may have been stored');
    expect(await shortfalls()).toBe(2);

    replica!.signal('SIGCONT');
    const retried = await post(body, key);
    // The refused try was stored on the primary: the retry is its replay, confirmed by the same WAIT.
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    const retriedId = ((await retried.json()) as Json).id as string;
    expect(await replicaClient.exists(jobKey(retriedId))).toBe(1);
    const queue = stack!.intake.get(LeadsQueue);
    const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized']);
    // The first lead, the refused-then-replayed one, the two of the batch (stored, unconfirmed): no duplicate.
    const withKeyBody = jobs.filter((job) => job.id === retriedId);
    expect(withKeyBody).toHaveLength(1);
    expect(jobs).toHaveLength(4);
    expect(await shortfalls()).toBe(2);
  });
});
