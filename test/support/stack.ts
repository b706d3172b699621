import { INestApplicationContext, LogLevel } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { keyPrefix, LEADS_QUEUE, RedisClient } from '@app/queue';
import { SANDBOX_DEFAULTS } from '@app/wegroup';
import { createIntakeApp } from '../../apps/intake-api/src/intake.app';
import { readIntakeAppConfig } from '../../apps/intake-api/src/intake.config';
import { createWorkerApp } from '../../apps/delivery-worker/src/worker.app';
import { readWorkerAppConfig } from '../../apps/delivery-worker/src/worker.config';
import { createSandboxApp, type SandboxOptions } from '../../apps/wegroup-sandbox/src/sandbox.app';
import { connectRedis, deleteKeys, redisTopologyEnv, uniqueQueuePrefix } from './redis-keys';
import { waitFor } from './wait';

export { freePort } from './processes';
// Most e2e specs take their sample leads with the stack.
export { lead } from './lead-fixtures';

export const INTAKE_KEY = 'test-intake-key-0123456789';
export const OTHER_SOURCE_KEY = 'other-intake-key-0123456789';
/** Errors only: a passing run stays quiet, a failing one still says why. */
export const TEST_LOGGER: LogLevel[] = ['error'];
/** A fresh data key per test process: lead data in Redis is sealed with it. */
export const TEST_DATA_KEY = `test:${randomBytes(32).toString('base64')}`;
export const OPS = { username: 'ops', password: 'ops-test-password' };
/** The Authorization header of an ops request. */
export const OPS_AUTH = `Basic ${Buffer.from(`${OPS.username}:${OPS.password}`).toString('base64')}`;

export interface StartedSandbox {
  url: string;
  app: NestFastifyApplication;
  close(): Promise<void>;
}

/** The sandbox in this process; `options` as its SANDBOX_* variables would set them (e.g. `callbacks`). */
export async function startSandbox(options: Partial<SandboxOptions> = {}): Promise<StartedSandbox> {
  const app = await createSandboxApp({ logger: TEST_LOGGER, ...options });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { url, app, close: () => app.close() };
}

export interface StartedIntake {
  url: string;
  close(): Promise<void>;
}

/** The real intake pointed at a Redis that is not there (port 1), for the 503 paths. */
export async function startIntakeWithoutRedis(name: string, env: Record<string, string> = {}): Promise<StartedIntake> {
  const app = await createIntakeApp(
    readIntakeAppConfig({
      REDIS_URL: 'redis://127.0.0.1:1',
      QUEUE_PREFIX: uniqueQueuePrefix(name),
      INTAKE_API_KEYS: `test-crm:${INTAKE_KEY}`,
      OPS_USERNAME: OPS.username,
      OPS_PASSWORD: OPS.password,
      DATA_ENCRYPTION_KEY: TEST_DATA_KEY,
      ...env,
    }),
    { logger: TEST_LOGGER },
  );
  await app.listen(0, '127.0.0.1');
  return { url: (await app.getUrl()).replace('[::1]', '127.0.0.1'), close: () => app.close() };
}

export interface StackWithSandbox {
  sandbox: StartedSandbox;
  control: SandboxControl;
  stack: Stack;
}

/** A sandbox and the intake + worker in front of it, for one describe block. */
export async function startStackWithSandbox(name: string, env?: Record<string, string>): Promise<StackWithSandbox> {
  const sandbox = await startSandbox();
  const stack = await new Stack({ name, sandboxUrl: sandbox.url, env }).start();
  return { sandbox, control: new SandboxControl(sandbox.url), stack };
}

export async function stopStackWithSandbox(started: Partial<StackWithSandbox>): Promise<void> {
  await started.stack?.close();
  await started.sandbox?.close();
}

/** Which lead a request the sandbox recorded was about: its prospect's external_ref. */
export function refOf(request: Record<string, any>): string | undefined {
  return request.body?.prospect?.external_ref?.external_ref;
}

/** Talks to the sandbox's control API over HTTP, as any client would. */
export class SandboxControl {
  constructor(private readonly url: string) {}

  async fault(rule: Record<string, unknown>): Promise<void> {
    const response = await fetch(`${this.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(rule),
    });
    if (!response.ok) throw new Error(`sandbox refused fault rule: ${response.status} ${await response.text()}`);
  }

  async requests(distributionId: string): Promise<Array<Record<string, any>>> {
    const response = await fetch(`${this.url}/_sandbox/requests?distribution_id=${encodeURIComponent(distributionId)}`);
    return ((await response.json()) as { requests: Array<Record<string, any>> }).requests;
  }

  async token(token: string, scopes: string[], scheme: 'apikey' | 'bearer' = 'apikey'): Promise<void> {
    const response = await fetch(`${this.url}/_sandbox/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scheme, token, scopes }),
    });
    if (!response.ok) throw new Error(`sandbox refused token: ${response.status}`);
  }
}

export interface StackOptions {
  name: string;
  sandboxUrl: string;
  /**
   * Added to the apps' environment. Where Redis is comes from here too: REDIS_CLUSTER_NODES
   * (or REDIS_SENTINELS and REDIS_SENTINEL_NAME) instead of the shared test Redis (REDIS_URL).
   */
  env?: Record<string, string>;
  worker?: boolean;
  /** A fixed intake port (e.g. one registered as an OAuth redirect URI); any free one otherwise. */
  port?: number;
}


/** The real intake-api and delivery-worker, in this process, on a QUEUE_PREFIX of their own. */
export class Stack {
  readonly queuePrefix: string;
  intake!: NestFastifyApplication;
  worker?: INestApplicationContext;
  url!: string;
  readonly env: Record<string, string>;
  private readonly queue: Queue;
  private readonly redis: RedisClient;

  constructor(private readonly options: StackOptions) {
    this.queuePrefix = uniqueQueuePrefix(options.name);
    this.env = {
      ...redisTopologyEnv(options.env),
      QUEUE_PREFIX: this.queuePrefix,
      WEGROUP_ENV: 'sandbox',
      WEGROUP_API_URL: options.sandboxUrl,
      WEGROUP_API_TOKEN: SANDBOX_DEFAULTS.apiToken,
      INTAKE_API_KEYS: `test-crm:${INTAKE_KEY},other-crm:${OTHER_SOURCE_KEY}`,
      OPS_USERNAME: OPS.username,
      OPS_PASSWORD: OPS.password,
      DATA_ENCRYPTION_KEY: TEST_DATA_KEY,
      DELIVERY_RETRY_SCHEDULE: '0.1,0.1,0.1',
      WORKER_CONCURRENCY: '10',
      // Tests post and poll hundreds of leads a minute; the throttling tests set their own limit.
      INTAKE_RATE_LIMIT: '1000000',
      ...options.env,
    };
    this.redis = connectRedis(this.env);
    // Read-only observer: it must not write the queue's meta key after the test deleted its keys.
    this.queue = new Queue(LEADS_QUEUE, { connection: this.redis, prefix: keyPrefix(this.queuePrefix), skipMetasUpdate: true });
  }

  async start(): Promise<this> {
    this.intake = await createIntakeApp(readIntakeAppConfig(this.env), { logger: TEST_LOGGER });
    await this.intake.listen(this.options.port ?? 0, '127.0.0.1');
    this.url = (await this.intake.getUrl()).replace('[::1]', '127.0.0.1');
    if (this.options.worker !== false) await this.startWorker();
    return this;
  }

  async startWorker(): Promise<INestApplicationContext> {
    this.worker = await createWorkerApp(readWorkerAppConfig(this.env), { logger: TEST_LOGGER });
    return this.worker;
  }

  async stopWorker(): Promise<void> {
    await this.worker?.close();
    this.worker = undefined;
  }

  async postLead(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.url}/v1/leads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': INTAKE_KEY, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  async lead(id: string, key = INTAKE_KEY): Promise<Record<string, any>> {
    const response = await fetch(`${this.url}/v1/leads/${id}`, { headers: { 'x-api-key': key } });
    return { http_status: response.status, ...((await response.json()) as object) };
  }

  /** Waits until the lead reaches one of the given statuses. */
  async waitForStatus(id: string, statuses: string[], timeoutMs = 20_000): Promise<Record<string, any>> {
    return waitFor(`lead ${id} to be ${statuses.join('/')}`, async () => {
      const lead = await this.lead(id);
      return statuses.includes(lead.status) ? lead : undefined;
    }, { timeoutMs });
  }

  /** Until nothing is waiting, delayed or active (twenty's wait-for-all-jobs idea). */
  async waitUntilDrained(timeoutMs = 30_000): Promise<void> {
    await waitFor('the queue to drain', async () => {
      const counts = await this.queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    }, { timeoutMs });
  }

  async close(): Promise<void> {
    await this.stopWorker();
    await this.intake?.close();
    await this.queue.close();
    this.redis.disconnect();
    await deleteKeys(this.queuePrefix, this.env);
  }
}

export function distributionId(): string {
  return `dist-${Math.random().toString(16).slice(2, 12)}`;
}
