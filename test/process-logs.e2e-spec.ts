import net from 'node:net';
import { SANDBOX_DEFAULTS } from '@app/wegroup';
import { AppProcess, distinctFreePorts, freePort, ProcessGroup } from './support/processes';
import { deleteKeys, REDIS_URL, uniqueQueuePrefix } from './support/redis-keys';
import { INTAKE_KEY, OPS, TEST_DATA_KEY } from './support/stack';
import { redisAddress, TcpProxy, viaProxy } from './support/tcp-proxy';

type Json = Record<string, any>;

/**
 * Every line an app writes is one JSON object, also when Redis is not there or goes away
 * (ioredis and BullMQ print raw, multi-line dumps of errors nobody listens to), and when a
 * port it needs is taken. The built apps run as children; their stdout and stderr are read
 * together, as a log collector reads them.
 */

const TEST_TIMEOUT_MS = 60_000;
/** How long the output of an outage is collected: several reconnect rounds (ioredis retries every 0.1–2 s). */
const OUTAGE_WINDOW_MS = 5_000;

/** Every non-empty line, parsed; a line that is not a JSON log record fails with the line. */
function jsonLines(child: AppProcess, from = 0): Json[] {
  return child.output
    .slice(from)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      let record: Json;
      try {
        record = JSON.parse(line) as Json;
      } catch {
        throw new Error(`${child.label} wrote a line that is not JSON: ${line.slice(0, 300)}`);
      }
      expect({ line: line.slice(0, 300), level: typeof record.level, msg: typeof record.msg }).toEqual({ line: line.slice(0, 300), level: 'string', msg: 'string' });
      return record;
    });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds a port, as another program would. */
async function occupy(port: number): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve());
  });
  return server;
}

describe('logs are JSON lines, whatever happens to Redis; a taken port stops the boot', () => {
  const queuePrefix = uniqueQueuePrefix('proclogs');
  const processes = new ProcessGroup();
  let proxy: TcpProxy | undefined;
  let holder: net.Server | undefined;

  const env = (overrides: Record<string, string> = {}): Record<string, string> => ({
    REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
    WEGROUP_ENV: 'sandbox',
    WEGROUP_API_URL: 'http://127.0.0.1:9',
    WEGROUP_API_TOKEN: SANDBOX_DEFAULTS.apiToken,
    INTAKE_API_KEYS: `test-crm:${INTAKE_KEY}`,
    OPS_USERNAME: OPS.username,
    OPS_PASSWORD: OPS.password,
    DATA_ENCRYPTION_KEY: TEST_DATA_KEY,
    WORKER_SHUTDOWN_TIMEOUT_MS: '1000',
    ...overrides,
  });

  afterEach(async () => {
    await processes.killAll();
    await proxy?.close();
    proxy = undefined;
    await new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve()));
    holder = undefined;
  });
  afterAll(() => deleteKeys(queuePrefix));

  it(
    'Redis goes away under a running worker and intake: every line stays JSON, and repeats are few',
    processes.explain(async () => {
      proxy = new TcpProxy(redisAddress(REDIS_URL));
      await proxy.start();
      const [port, metricsPort] = await distinctFreePorts(2);
      const throughProxy = env({ REDIS_URL: viaProxy(REDIS_URL, proxy.port) });
      const intake = await processes.startIntake({ ...throughProxy, PORT: String(port) }, 'intake');
      const worker = await processes.startWorker({ ...throughProxy, METRICS_PORT: String(metricsPort) }, 'worker');

      const marks = { intake: intake.process.output.length, worker: worker.output.length };
      await proxy.cut();
      await worker.waitForOutput(/Redis connection problem/, { from: marks.worker });
      await intake.process.waitForOutput(/Redis connection problem/, { from: marks.intake });
      // The intake's readiness asks Redis too; a request during the outage is answered, and logged.
      expect((await fetch(`${intake.url}/health/ready`)).status).toBe(503);
      await pause(OUTAGE_WINDOW_MS);

      const workerLines = jsonLines(worker);
      jsonLines(intake.process);
      // Dozens of failed reconnects, each relayed by three clients (leads, the app's own keys, events), three queues and
      // three workers, each with a few distinct messages (reset, refused, closed): logged once each
      // (then once a minute), not once per reconnect.
      const aboutTheOutage = workerLines.slice(-100).filter((line) => /ECONNREFUSED|ECONNRESET|Connection is closed/.test(`${line.msg} ${line.err?.message ?? ''}`));
      expect(aboutTheOutage.length).toBeGreaterThanOrEqual(1);
      expect(aboutTheOutage.length).toBeLessThanOrEqual(24);

      // Back again: the lines say so, still JSON.
      await proxy.restore();
      await worker.waitForOutput(/Redis connection restored/, { from: marks.worker });
      jsonLines(worker);
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'a worker started while no Redis answers says so in JSON lines, and stops on SIGTERM',
    processes.explain(async () => {
      const nobody = await freePort();
      const worker = processes.spawn('delivery-worker', env({ REDIS_URL: `redis://127.0.0.1:${nobody}`, METRICS_PORT: String(await freePort()) }), 'worker-no-redis');
      await worker.waitForOutput(/Redis connection problem: connect ECONNREFUSED/);
      await pause(OUTAGE_WINDOW_MS);
      const lines = jsonLines(worker);
      // One line per thing that lost Redis, not one per reconnection: the three connections (leads,
      // the app's own keys, events), the leads, events and maintenance queues, and the three Workers on them.
      expect(lines.filter((line) => /ECONNREFUSED/.test(line.msg)).length).toBeLessThanOrEqual(9);
      worker.signal('SIGTERM');
      expect(await worker.waitForExit(20_000)).toEqual({ code: 0, signal: null });
      jsonLines(worker);
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'the sandbox writes JSON lines only, also for a request it refuses',
    processes.explain(async () => {
      const port = await freePort();
      const sandbox = processes.spawn('wegroup-sandbox', { SANDBOX_PORT: String(port), SANDBOX_HOST: '127.0.0.1' }, 'sandbox');
      await sandbox.waitForOutput(/WeGroup sandbox listening/);
      const refused = await fetch(`http://127.0.0.1:${port}/v1/api/distributions/d-1/leads/customers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `apikey ${SANDBOX_DEFAULTS.apiToken}` },
        body: '{not json',
      });
      expect(refused.status).toBe(422);
      await sandbox.waitForOutput(/POST \/v1\/api\/distributions\/d-1\/leads\/customers 422/);
      jsonLines(sandbox);
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'a taken METRICS_PORT stops the worker at boot with one JSON line naming it, exit code 1',
    processes.explain(async () => {
      const metricsPort = await freePort();
      holder = await occupy(metricsPort);
      const worker = processes.spawn('delivery-worker', env({ METRICS_PORT: String(metricsPort) }), 'worker-busy-port');
      expect(await worker.waitForExit(20_000)).toEqual({ code: 1, signal: null });
      const lines = jsonLines(worker);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'fatal', service: 'delivery-worker', msg: expect.stringContaining(`METRICS_PORT ${metricsPort} cannot be listened on (EADDRINUSE)`) });
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'a taken PORT stops the intake at boot in JSON lines naming it, exit code 1',
    processes.explain(async () => {
      const port = await freePort();
      holder = await occupy(port);
      const intake = processes.spawn('intake-api', env({ PORT: String(port) }), 'intake-busy-port');
      expect(await intake.waitForExit(20_000)).toEqual({ code: 1, signal: null });
      const lines = jsonLines(intake);
      // (The app's own buffered lines may come after it: they are written asynchronously.)
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 'fatal', service: 'intake-api', msg: expect.stringContaining(`PORT ${port} cannot be listened on (EADDRINUSE)`) }),
      );
    }),
    TEST_TIMEOUT_MS,
  );
});
