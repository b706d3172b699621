import { ConfigError } from './env';
import { readIntakeAppConfig, readWorkerAppConfig, SANDBOX_DEFAULTS } from './app-config';

const DATA_ENCRYPTION_KEY = `k1:${Buffer.alloc(32, 7).toString('base64')}`;
const intakeEnv = { INTAKE_API_KEYS: 'acme:acme-key-0123456789abcdef', OPS_USERNAME: 'ops', OPS_PASSWORD: 'ops-password', DATA_ENCRYPTION_KEY };

function errorOf(read: () => unknown): ConfigError {
  try {
    read();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('applies the documented defaults in sandbox mode', () => {
    const worker = readWorkerAppConfig({ DATA_ENCRYPTION_KEY });
    expect(worker.redis).toEqual({ url: 'redis://127.0.0.1:6379', queuePrefix: 'wg' });
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
    });
    const intake = readIntakeAppConfig(intakeEnv);
    expect(intake.intake.port).toBe(3000);
    expect(intake.intake.apiKeys.get('acme-key-0123456789abcdef')).toBe('acme');
    expect(intake.retention).toEqual({ deliveredDays: 7, metadataDays: 90, failedDays: 30, idempotencyTtlSeconds: 86_400 });
    expect(readWorkerAppConfig({ DELIVERY_RETRY_SCHEDULE: '0.5, 2,10', DATA_ENCRYPTION_KEY }).delivery.retry.scheduleMs).toEqual([500, 2000, 10000]);
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
    expect(errorOf(() => readWorkerAppConfig(env)).message).toContain(message);
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
    const error = errorOf(() => readIntakeAppConfig(env));
    expect(error.message).toContain(message);
    expect(error.message).not.toMatch(/\n/);
  });
});
