import { SANDBOX_DEFAULTS } from '@app/wegroup';
import { readIntakeAppConfig } from './intake-api/src/intake.config';
import { readWorkerAppConfig } from './delivery-worker/src/worker.config';
import { configErrorOf } from '@app/config/testing/config-error';

const DATA_ENCRYPTION_KEY = `k1:${Buffer.alloc(32, 7).toString('base64')}`;
const intakeEnv = { INTAKE_API_KEYS: 'acme:acme-key-0123456789abcdef', OPS_USERNAME: 'ops', OPS_PASSWORD: 'ops-password', DATA_ENCRYPTION_KEY };


describe('configuration', () => {
  it('applies the documented defaults in sandbox mode', () => {
    const worker = readWorkerAppConfig({ DATA_ENCRYPTION_KEY });
    expect(worker.redis).toEqual({ topology: { kind: 'standalone', url: 'redis://127.0.0.1:6379' }, password: null, tls: false, queuePrefix: 'wg', waitReplicas: 0, waitTimeoutMs: 500 });
    expect(worker.wegroup).toMatchObject({
      env: 'sandbox',
      apiToken: SANDBOX_DEFAULTS.apiToken,
      apiTokenScopes: ['leads:write'],
      distributionId: SANDBOX_DEFAULTS.distributionId,
      timeoutMs: 15000,
    });
    expect(worker.delivery).toEqual({
      concurrency: 50,
      retry: { scheduleMs: [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000], maxRateLimitWaitMs: 21_600_000 },
      lockMs: 30_000,
      shutdownTimeoutMs: 25_000,
      breaker: { threshold: 20, cooldownMs: 60_000 },
      allowHttpUrls: false,
    });
    const intake = readIntakeAppConfig(intakeEnv);
    expect(intake.intake.port).toBe(3000);
    expect(intake.intake.apiKeys.get('acme-key-0123456789abcdef')).toBe('acme');
    expect(intake.retention).toEqual({ deliveredDays: 7, metadataDays: 90, failedDays: 30, idempotencyTtlSeconds: 86_400 });
    expect(readWorkerAppConfig({ DELIVERY_RETRY_SCHEDULE: '0.5, 2,10', DATA_ENCRYPTION_KEY }).delivery.retry.scheduleMs).toEqual([500, 2000, 10000]);
  });

  it('reads a Redis Cluster or Sentinel topology instead of REDIS_URL', () => {
    const redis = (env: Record<string, string>) => readWorkerAppConfig({ DATA_ENCRYPTION_KEY, ...env }).redis;
    expect(redis({ REDIS_URL: 'rediss://cache.internal:6380/' })).toMatchObject({ topology: { kind: 'standalone', url: 'rediss://cache.internal:6380' } });
    expect(redis({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-2.internal:7001,[::1]:7002' }).topology).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-2.internal', port: 7001 },
        { host: '::1', port: 7002 },
      ],
    });
    expect(redis({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'leads-primary' }).topology).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      name: 'leads-primary',
    });
    expect(redis({ REDIS_CLUSTER_NODES: 'n1:7000', REDIS_PASSWORD: 'hunter2-hunter2', REDIS_TLS: 'true' })).toMatchObject({
      password: 'hunter2-hunter2',
      tls: true,
    });
  });

  it.each([
    [{ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'n1:7000' }, 'REDIS_URL and REDIS_CLUSTER_NODES are both set: choose one Redis topology'],
    [{ REDIS_URL: 'redis://r:6379', REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_URL and REDIS_SENTINELS are both set'],
    [{ REDIS_CLUSTER_NODES: 'n1:7000', REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set'],
    [{ REDIS_URL: 'redis://r', REDIS_CLUSTER_NODES: 'n1:7000', REDIS_SENTINELS: 's1:26379' }, 'REDIS_URL and REDIS_CLUSTER_NODES and REDIS_SENTINELS are all set'],
    [{ REDIS_SENTINELS: 's1:26379' }, 'REDIS_SENTINEL_NAME is required with REDIS_SENTINELS'],
    [{ REDIS_SENTINEL_NAME: 'mymaster' }, 'REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is not'],
    [{ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'my master' }, 'REDIS_SENTINEL_NAME may hold only'],
    [{ REDIS_CLUSTER_NODES: ' , ' }, 'REDIS_CLUSTER_NODES must list at least one host:port'],
    [{ REDIS_CLUSTER_NODES: 'n1:7000,n2' }, 'REDIS_CLUSTER_NODES has an invalid entry "n2" (expected host:port'],
    [{ REDIS_CLUSTER_NODES: 'n1:7000,n2:0' }, 'REDIS_CLUSTER_NODES has an invalid entry "n2:0"'],
    [{ REDIS_CLUSTER_NODES: 'n1:70000' }, 'REDIS_CLUSTER_NODES has an invalid entry "n1:70000"'],
    [{ REDIS_CLUSTER_NODES: 'n1:port' }, 'REDIS_CLUSTER_NODES has an invalid entry "n1:port"'],
    [{ REDIS_CLUSTER_NODES: ':7000' }, 'REDIS_CLUSTER_NODES has an invalid entry ":7000"'],
    [{ REDIS_CLUSTER_NODES: 'bad host:7000' }, 'REDIS_CLUSTER_NODES has an invalid entry "bad host:7000"'],
    [{ REDIS_SENTINELS: 's1:26379;s2:26379', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS has an invalid entry "s1:26379;s2:26379"'],
    [{ REDIS_TLS: 'yes', REDIS_CLUSTER_NODES: 'n1:7000' }, 'REDIS_TLS must be one of true, false'],
    [{ REDIS_TLS: 'true' }, 'REDIS_TLS applies to REDIS_CLUSTER_NODES and REDIS_SENTINELS; for REDIS_URL use a rediss: URL'],
    [{ REDIS_WAIT_REPLICAS: '17' }, 'REDIS_WAIT_REPLICAS must be between 0 and 16, got 17'],
    [{ REDIS_WAIT_REPLICAS: 'all' }, 'REDIS_WAIT_REPLICAS must be a whole number, got "all"'],
    [{ REDIS_WAIT_TIMEOUT_MS: '5' }, 'REDIS_WAIT_TIMEOUT_MS must be between 10 and 10000, got 5'],
    [{ REDIS_WAIT_TIMEOUT_MS: '20000' }, 'REDIS_WAIT_TIMEOUT_MS must be between 10 and 10000, got 20000'],
    [{ REDIS_CLUSTER_NODES: 'n1:7000', REDIS_WAIT_REPLICAS: '1' }, 'REDIS_WAIT_REPLICAS is not supported with REDIS_CLUSTER_NODES'],
  ])('stops at boot on a bad Redis topology: %j', (env, message) => {
    const error = configErrorOf(() => readWorkerAppConfig({ DATA_ENCRYPTION_KEY, ...env }));
    expect(error.message).toContain(message);
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it('reads REDIS_WAIT_REPLICAS and REDIS_WAIT_TIMEOUT_MS, for one server or a Sentinel-managed primary', () => {
    const redis = (env: Record<string, string>) => readWorkerAppConfig({ DATA_ENCRYPTION_KEY, ...env }).redis;
    expect(redis({ REDIS_WAIT_REPLICAS: '1' })).toMatchObject({ waitReplicas: 1, waitTimeoutMs: 500 });
    expect(redis({ REDIS_WAIT_REPLICAS: '2', REDIS_WAIT_TIMEOUT_MS: '2000', REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'm' })).toMatchObject({
      waitReplicas: 2,
      waitTimeoutMs: 2000,
    });
    // Off (0) is fine with a Cluster; only a positive count is refused, naming both variables.
    expect(redis({ REDIS_CLUSTER_NODES: 'n1:7000', REDIS_WAIT_REPLICAS: '0' }).waitReplicas).toBe(0);
    const error = configErrorOf(() => redis({ REDIS_CLUSTER_NODES: 'n1:7000', REDIS_WAIT_REPLICAS: '1' }));
    expect(error.message).toContain('REDIS_WAIT_REPLICAS');
    expect(error.message).toContain('REDIS_CLUSTER_NODES');
  });

  it('never echoes credentials from a host:port list', () => {
    const error = configErrorOf(() => readWorkerAppConfig({ DATA_ENCRYPTION_KEY, REDIS_CLUSTER_NODES: 'redis://default:s3cret-pass@n1:7000' }));
    expect(error.message).toContain('REDIS_CLUSTER_NODES must be comma-separated host:port entries');
    expect(error.message).not.toContain('s3cret-pass');
    const sentinel = configErrorOf(() => readWorkerAppConfig({ DATA_ENCRYPTION_KEY, REDIS_SENTINELS: 'user:s3cret-pass@s1:26379', REDIS_SENTINEL_NAME: 'm' }));
    expect(sentinel.message).not.toContain('s3cret-pass');
  });

  it('picks the WeGroup host from WEGROUP_ENV unless WEGROUP_API_URL overrides it', () => {
    const base = { WEGROUP_API_TOKEN: 't', WEGROUP_DISTRIBUTION_ID: 'd1', DATA_ENCRYPTION_KEY };
    expect(readWorkerAppConfig({ ...base, WEGROUP_ENV: 'staging' }).wegroup.apiUrl).toBe('https://api.staging.wegroup.be');
    expect(readWorkerAppConfig({ ...base, WEGROUP_ENV: 'production' }).wegroup.apiUrl).toBe('https://api.wegroup.be');
    expect(readWorkerAppConfig({ ...base, WEGROUP_ENV: 'production', WEGROUP_API_URL: 'http://proxy:8080/' }).wegroup.apiUrl).toBe(
      'http://proxy:8080',
    );
  });

  it.each([
    [{ WEGROUP_ENV: 'staging', WEGROUP_DISTRIBUTION_ID: 'd' }, 'WEGROUP_API_TOKEN is required but not set'],
    [{ WEGROUP_ENV: 'production', WEGROUP_API_TOKEN: 't' }, 'WEGROUP_DISTRIBUTION_ID is required but not set'],
    [{ WEGROUP_ENV: 'prod' }, 'WEGROUP_ENV must be one of sandbox, staging, production, got "prod"'],
    [{ WEGROUP_API_TOKEN_SCOPES: 'leads:write,offline' }, 'WEGROUP_API_TOKEN_SCOPES has "offline", which WeGroup grants only to SSO'],
    [{ WEGROUP_API_TOKEN_SCOPES: 'leads:write,leads:delete' }, 'WEGROUP_API_TOKEN_SCOPES has unknown scope "leads:delete"'],
    [{ WORKER_CONCURRENCY: 'many' }, 'WORKER_CONCURRENCY must be a whole number, got "many"'],
    [{ WORKER_CONCURRENCY: '0' }, 'WORKER_CONCURRENCY must be between 1 and 1000, got 0'],
    [{ DELIVERY_RETRY_SCHEDULE: '5,soon' }, 'DELIVERY_RETRY_SCHEDULE must be comma-separated seconds'],
    [{ REDIS_URL: 'http://localhost' }, 'REDIS_URL must use one of redis:, rediss:'],
    [{ QUEUE_PREFIX: 'a:b' }, 'QUEUE_PREFIX may hold only'],
    [{ WEGROUP_DISTRIBUTION_ID: '../x' }, 'WEGROUP_DISTRIBUTION_ID may hold only'],
  ])('stops the worker with one line naming the variable: %j', (env, message) => {
    expect(configErrorOf(() => readWorkerAppConfig(env)).message).toContain(message);
  });

  it.each([
    [{ ...intakeEnv, INTAKE_API_KEYS: '' }, 'INTAKE_API_KEYS is required'],
    [{ ...intakeEnv, INTAKE_API_KEYS: 'acme-key-only-0123456789' }, 'INTAKE_API_KEYS must be comma-separated source:key pairs'],
    [{ ...intakeEnv, INTAKE_API_KEYS: 'acme:short' }, 'key for source "acme" is shorter than 16'],
    [{ ...intakeEnv, INTAKE_API_KEYS: 'a:k-0123456789abcdef,b:k-0123456789abcdef' }, 'used twice'],
    [{ ...intakeEnv, OPS_USERNAME: undefined }, 'OPS_USERNAME is required'],
    [{ ...intakeEnv, OPS_PASSWORD: 'short' }, 'OPS_PASSWORD must be at least 8 characters'],
    [{ ...intakeEnv, IDEMPOTENCY_TTL_SECONDS: String(8 * 86_400) }, 'IDEMPOTENCY_TTL_SECONDS must not exceed'],
    [{ ...intakeEnv, DATA_ENCRYPTION_KEY: undefined }, 'DATA_ENCRYPTION_KEY is required'],
    [{ ...intakeEnv, DATA_ENCRYPTION_KEY: 'k1:c2hvcnQ=' }, 'DATA_ENCRYPTION_KEY key "k1" must be 32 bytes'],
    [{ ...intakeEnv, DATA_ENCRYPTION_OLD_KEYS: 'nocolon' }, 'DATA_ENCRYPTION_OLD_KEYS must be key-id:base64-key'],
    [{ ...intakeEnv, PORT: '70000' }, 'PORT must be between 1 and 65535'],
  ])('stops the intake with one line naming the variable: %j', (env, message) => {
    const error = configErrorOf(() => readIntakeAppConfig(env));
    expect(error.message).toContain(message);
    expect(error.message).not.toMatch(/\n/);
  });
});
