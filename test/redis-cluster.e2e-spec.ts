import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Keyring } from '@app/config';
import { checkRedisDurability, keyPrefix, primaries, RedisClient } from '@app/queue';
import { ConnectionStore, SsoAuthProvider, WeGroupOidcClient } from '@app/wegroup';
import { describePipeline } from './support/pipeline-suite';
import { LocalRedisCluster, startRedisCluster } from './support/redis-cluster';
import { connectRedis, deleteKeys, ready, scanKeys, uniqueQueuePrefix } from './support/redis-keys';
import {
  distributionId,
  INTAKE_KEY,
  lead,
  OPS_AUTH,
  OTHER_SOURCE_KEY,
  SandboxControl,
  Stack,
  StartedSandbox,
  startSandbox,
  startStackWithSandbox,
  stopStackWithSandbox,
} from './support/stack';
import { waitFor } from './support/wait';

/**
 * The same apps on a Redis Cluster (three primaries, started locally): every key of a
 * deployment carries the `{QUEUE_PREFIX}` hash tag, so it all lives in one slot and BullMQ's
 * scripts, our Lua and our MULTI blocks never cross slots.
 */

type Json = Record<string, any>;

let cluster: LocalRedisCluster | undefined;
const clusterEnv = (): Record<string, string> => ({ REDIS_CLUSTER_NODES: cluster!.nodes });

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('Redis Cluster', () => {
  describePipeline(clusterEnv, 'on a Redis Cluster');

  describe('reliability on a Redis Cluster: idempotency, retries, replay, circuit breaker', () => {
    let sandbox: StartedSandbox;
    let control: SandboxControl;
    let stack: Stack;
    let redis: RedisClient;

    beforeAll(async () => {
      ({ sandbox, control, stack } = await startStackWithSandbox('cluster', {
        ...clusterEnv(),
        CIRCUIT_BREAKER_THRESHOLD: '5',
        CIRCUIT_BREAKER_COOLDOWN_MS: '1000',
        DELIVERY_RETRY_SCHEDULE: '0.2,0.5,0.5,0.5,0.5,0.5',
      }));
      redis = await ready(connectRedis(clusterEnv()));
    });
    afterAll(async () => {
      redis?.disconnect();
      await stopStackWithSandbox({ sandbox, stack });
    });

    const post = async (body: Json, headers: Record<string, string> = {}) => {
      const response = await stack.postLead(body, headers);
      return { status: response.status, headers: response.headers, body: (await response.json()) as Json };
    };
    const ops = (path: string, init: RequestInit = {}) =>
      fetch(`${stack.url}${path}`, { ...init, headers: { authorization: OPS_AUTH, ...init.headers } });

    it('50 parallel posts with one Idempotency-Key make one job and one delivery', async () => {
      const did = distributionId();
      const body = lead({ distribution_id: did });
      const answers = await Promise.all(Array.from({ length: 50 }, () => post(body, { 'idempotency-key': `order-${did}` })));
      const ids = new Set(answers.map((a) => a.body.id));
      expect(ids.size).toBe(1);
      expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
      expect(answers.filter((a) => a.status === 200)).toHaveLength(49);
      const [id] = ids;
      await stack.waitForStatus(id, ['delivered', 'failed']);
      await stack.waitUntilDrained();
      expect(await control.requests(did)).toHaveLength(1);
      // One job hash for the lead, and nothing else with its id.
      const jobKeys = (await scanKeys(redis, `${keyPrefix(stack.queuePrefix)}:leads:*`)).filter((key) => key.includes(id));
      expect(jobKeys.filter((key) => key === `${keyPrefix(stack.queuePrefix)}:leads:${id}`)).toHaveLength(1);
    });

    it('retries a 5xx twice and delivers on attempt 3', async () => {
      const did = distributionId();
      await control.fault({ status: 503, count: 2, distribution_id: did });
      const { body } = await post(lead({ distribution_id: did }));
      const delivered = await stack.waitForStatus(body.id, ['delivered', 'failed']);
      expect(delivered).toMatchObject({ status: 'delivered', attempts: 3 });
      expect((await control.requests(did)).map((r) => r.status)).toEqual([503, 503, 201]);
    });

    it('ops can replay a failed lead, one at a time and in bulk', async () => {
      const did = distributionId();
      const since = new Date().toISOString();
      const refuse = () => control.fault({ status: 422, count: 1, distribution_id: did, body: { detail: 'unknown distribution setting' } });
      await refuse();
      const first = await post(lead({ distribution_id: did }));
      await stack.waitForStatus(first.body.id, ['failed']);
      expect((await ops(`/v1/leads/${first.body.id}/retry`, { method: 'POST' })).status).toBe(202);
      const delivered = await stack.waitForStatus(first.body.id, ['delivered']);
      expect(delivered.attempts_log.map((e: Json) => (e.kind === 'replayed' ? 'replayed' : e.outcome))).toEqual(['permanent', 'replayed', 'delivered']);

      await refuse();
      const second = await post(lead({ distribution_id: did }));
      await stack.waitForStatus(second.body.id, ['failed']);
      const bulk = await ops('/v1/ops/leads/retry', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'unknown distribution', failed_after: since }),
      });
      expect(await bulk.json()).toEqual({ matched: 1, retried: 1 });
      await stack.waitForStatus(second.body.id, ['delivered']);
    });

    it('the circuit breaker opens during an outage and every lead is delivered once WeGroup is back', async () => {
      const did = distributionId();
      await control.fault({ status: 503, count: 1_000_000, distribution_id: did });
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => post(lead({ distribution_id: did }, { email: `lead-${i}@example.com` }))),
      );
      expect(answers.every((a) => a.status === 202)).toBe(true);
      const opened = await waitFor('the circuit to open', async () => {
        const state = (await (await ops('/v1/ops/delivery')).json()) as Json;
        return state.circuit_breaker.state !== 'closed' ? state : undefined;
      });
      expect(opened.circuit_breaker.consecutive_failures).toBeGreaterThanOrEqual(5);

      await fetch(`${sandbox.url}/_sandbox/faults?distribution_id=${did}`, { method: 'DELETE' });
      await stack.waitUntilDrained(60_000);
      const statuses = await Promise.all(answers.map((a) => stack.lead(a.body.id)));
      expect(statuses.filter((s) => s.status !== 'delivered')).toEqual([]);
      const accepted = (await control.requests(did)).filter((r) => r.status === 201);
      expect(new Set(accepted.map((r) => r.body.prospect.email)).size).toBe(40);
      expect(accepted).toHaveLength(40);
      const state = (await (await ops('/v1/ops/delivery')).json()) as Json;
      expect(state.circuit_breaker).toMatchObject({ state: 'closed', consecutive_failures: 0 });
    });

    it('keeps every key of the deployment under its hash tag, in one slot', async () => {
      const tag = keyPrefix(stack.queuePrefix);
      const keys = await scanKeys(redis, '*');
      const ours = keys.filter((key) => key.startsWith(`${tag}:`));
      expect(ours.length).toBeGreaterThan(10);
      // Breaker, queue and job keys are all there.
      expect(ours).toEqual(expect.arrayContaining([`${tag}:leads:breaker`, `${tag}:leads:meta`]));
      // The pipeline suite before this one cleaned up after itself: this deployment's keys are all there is.
      expect(keys.filter((key) => !key.startsWith(`${tag}:`))).toEqual([]);
      const slots = new Set(await Promise.all(ours.slice(0, 200).map((key) => redis.call('CLUSTER', 'KEYSLOT', key))));
      expect([...slots]).toEqual([await redis.call('CLUSTER', 'KEYSLOT', tag)]);
    });
  });

  describe('throttling and SSO connections on a Redis Cluster (Lua and MULTI on one slot)', () => {
    let sandbox: StartedSandbox;
    let limited: Stack;
    let redis: RedisClient;

    beforeAll(async () => {
      sandbox = await startSandbox();
      limited = await new Stack({
        name: 'cluster-throttle',
        sandboxUrl: sandbox.url,
        worker: false,
        env: { ...clusterEnv(), INTAKE_RATE_LIMIT: '3', INTAKE_RATE_LIMIT_WINDOW_MS: '60000' },
      }).start();
      redis = await ready(connectRedis(clusterEnv()));
    });
    afterAll(async () => {
      redis?.disconnect();
      await limited?.close();
      await sandbox?.close();
    });

    it('answers 429 over the limit per source, counting in Redis under the hash tag', async () => {
      const get = (key: string) => fetch(`${limited.url}/v1/leads/00000000-0000-4000-8000-000000000000`, { headers: { 'x-api-key': key } });
      for (let i = 0; i < 3; i++) expect((await get(INTAKE_KEY)).status).toBe(404);
      const over = await get(INTAKE_KEY);
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await get(OTHER_SOURCE_KEY)).status).toBe(404);
      const tag = keyPrefix(limited.queuePrefix);
      expect((await scanKeys(redis, `${tag}:throttle:*`)).sort()).toEqual([
        `${tag}:throttle:default:source:other-crm`,
        `${tag}:throttle:default:source:test-crm:blocked`,
      ]);
    });

    it('stores, refreshes (lock + Lua release) and deletes an SSO connection', async () => {
      const queuePrefix = uniqueQueuePrefix('cluster-sso');
      const store = new ConnectionStore(redis, queuePrefix, new Keyring({ id: 'k1', key: randomBytes(32) }));
      const oidc = { refresh: async () => ({ accessToken: 'access-2', refreshToken: 'refresh-2', expiresIn: 3600, scopes: ['leads:write'] }) };
      const provider = new SsoAuthProvider(store, oidc as unknown as WeGroupOidcClient, redis);
      try {
        const did = distributionId();
        const user = { uid: 'u1', email: null, username: null, role: null };
        // Expires at once, so the first use refreshes.
        const view = await store.saveSignIn(did, null, user, { accessToken: 'access-1', refreshToken: 'refresh-1', expiresIn: 0, scopes: ['leads:write'] });
        expect(await store.list()).toEqual([expect.objectContaining({ id: view.id, distribution_id: did })]);
        expect((await provider.credentialsFor(did)).credential).toBe('access-2');
        expect(await redis.exists(store.lockKey(did))).toBe(0);
        expect(await store.delete(view.id)).toMatchObject({ id: view.id });
        expect(await store.list()).toEqual([]);
      } finally {
        await deleteKeys(queuePrefix, clusterEnv());
      }
    });
  });

  describe('maxmemory-policy on a Redis Cluster', () => {
    it('warns when any primary may evict keys, and is quiet when all say noeviction', async () => {
      const redis = await ready(connectRedis(clusterEnv()));
      const warn = jest.fn();
      const logger = { warn } as unknown as Logger;
      const [, second] = primaries(redis);
      try {
        await checkRedisDurability(redis, logger);
        // These nodes run without AOF, which has its own warning (test/redis-durability-warnings).
        expect(warn).not.toHaveBeenCalledWith(expect.stringContaining('maxmemory-policy'));
        await second.config('SET', 'maxmemory-policy', 'allkeys-lru');
        await checkRedisDurability(redis, logger);
        expect(warn).toHaveBeenCalledWith(expect.stringContaining('maxmemory-policy is "allkeys-lru"'));
      } finally {
        await second.config('SET', 'maxmemory-policy', 'noeviction');
        redis.disconnect();
      }
    });
  });

  describe('cleanup', () => {
    it('leaves no key behind in the cluster once the stacks are closed', async () => {
      const redis = await ready(connectRedis(clusterEnv()));
      try {
        expect(await scanKeys(redis, '*')).toEqual([]);
      } finally {
        redis.disconnect();
      }
    });
  });
});
