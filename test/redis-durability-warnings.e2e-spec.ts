import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { AppProcess, AppName, distinctFreePorts, ProcessGroup } from './support/processes';
import { INTAKE_KEY, OPS, TEST_DATA_KEY } from './support/stack';
import { uniqueQueuePrefix } from './support/redis-keys';

/**
 * Both apps warn at startup when their Redis could lose accepted leads: no AOF, or a
 * maxmemory-policy that evicts. A private redis-server (free port, temp dir) is reconfigured
 * between runs; the shared test Redis is never touched.
 */

// The apps log JSON lines, so the quotes arrive escaped.
const AOF_WARNING = /Redis appendonly is \\?"no\\?"/;
const EVICTION_WARNING = /Redis maxmemory-policy is \\?"allkeys-lru\\?"/;

describe('Redis durability warnings at startup (built apps)', () => {
  const group = new ProcessGroup();
  let redisServer: AppProcess;
  let redis: Redis;
  let dir: string;
  let redisPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'durability-'));
    [redisPort] = await distinctFreePorts(1);
    const args = ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'];
    redisServer = new AppProcess(`redis :${redisPort}`, spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    redis = new Redis({ host: '127.0.0.1', port: redisPort, lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    // connect() once: after a refused first try ioredis reconnects by itself, and a second
    // connect() would only be refused as "already connecting" until the wait ran out.
    await redisServer.until(
      'redis to answer PING',
      async () => {
        if (redis.status === 'wait') await redis.connect().catch(() => undefined);
        return redis.status === 'ready' && (await redis.ping().catch(() => undefined)) === 'PONG';
      },
      { timeoutMs: 10_000 },
    );
  });

  afterAll(async () => {
    redis?.disconnect();
    await group.killAll();
    await redisServer?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(app: AppName, label: string): Promise<AppProcess> {
    const [port, metricsPort] = await distinctFreePorts(2);
    return group.spawn(
      app,
      {
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        QUEUE_PREFIX: uniqueQueuePrefix(label),
        PORT: String(port),
        METRICS_PORT: String(metricsPort),
        INTAKE_API_KEYS: `test-crm:${INTAKE_KEY}`,
        OPS_USERNAME: OPS.username,
        OPS_PASSWORD: OPS.password,
        DATA_ENCRYPTION_KEY: TEST_DATA_KEY,
        // Never called: nothing is posted.
        WEGROUP_SANDBOX_URL: 'http://127.0.0.1:1',
      },
      label,
    );
  }

  const apps: AppName[] = ['intake-api', 'delivery-worker'];

  it.each(apps)(
    '%s warns when appendonly is off (and not about eviction under noeviction)',
    (app) =>
      group.explain(async () => {
        const started = await start(app, `aof-off-${app}`);
        const line = await started.waitForOutput(new RegExp(`${AOF_WARNING.source}.*`));
        expect(line).toContain('Set appendonly yes');
        // Both checks run in one pass and the eviction one logs first: its silence is settled.
        expect(started.output).not.toMatch(/maxmemory-policy is/);
        await started.kill();
      })(),
  );

  it.each(apps)(
    '%s is quiet about AOF once appendonly is on (and warns about eviction)',
    (app) =>
      group.explain(async () => {
        await redis.config('SET', 'appendonly', 'yes');
        await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
        try {
          const started = await start(app, `aof-on-${app}`);
          await started.waitForOutput(EVICTION_WARNING);
          expect(started.output).not.toMatch(AOF_WARNING);
          await started.kill();
        } finally {
          await redis.config('SET', 'appendonly', 'no');
          await redis.config('SET', 'maxmemory-policy', 'noeviction');
        }
      })(),
  );
});
