import type { Queue } from 'bullmq';
import type Redis from 'ioredis';
import type { CircuitBreaker } from '@app/queue';
import type { LeadDeliveryProcessor } from './lead-delivery.processor';
import { WorkerMetricsServer } from './worker-metrics.server';
import { WorkerMetrics } from './worker.metrics';

describe('WorkerMetricsServer', () => {
  const servers: WorkerMetricsServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.onApplicationShutdown()));
  });

  async function start(ping: () => Promise<string>, running: boolean, metricsPort = 0) {
    const metrics = new WorkerMetrics(
      { getJobCounts: async () => ({ waiting: 3, delayed: 1, active: 2, failed: 4 }) } as unknown as Queue,
      { state: async () => ({ state: 'open', consecutive_failures: 20 }) } as unknown as CircuitBreaker,
    );
    const server = new WorkerMetricsServer(
      { metricsPort, metricsHost: '127.0.0.1' },
      metrics,
      { isRunning: () => running } as unknown as LeadDeliveryProcessor,
      { ping } as unknown as Redis,
    );
    servers.push(server);
    await server.onModuleInit();
    return { base: `http://127.0.0.1:${server.port}`, metrics };
  }

  it('serves Prometheus text with the queue and breaker read at scrape time', async () => {
    const { base, metrics } = await start(async () => 'PONG', true);
    metrics.delivery('transient', 503);
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain('wegroup_leads_queue_jobs{state="failed"} 4');
    expect(text).toContain('wegroup_leads_circuit_breaker_state 2');
    expect(text).toContain('wegroup_leads_circuit_breaker_consecutive_failures 20');
    expect(text).toContain('wegroup_leads_deliveries_total{outcome="transient",status_code="503"} 1');
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
  });

  /** Status, content type, cache policy and body of one answer. */
  const answer = async (url: string) => {
    const response = await fetch(url);
    const { status, headers } = response;
    return { status, type: headers.get('content-type'), cache: headers.get('cache-control'), body: await response.json() };
  };
  const HEALTHY = { status: 200, type: 'application/json; charset=utf-8', cache: 'no-cache, no-store, must-revalidate' };
  const NOT_READY = { status: 503, type: 'application/problem+json; charset=utf-8', cache: 'no-cache, no-store, must-revalidate' };

  it("is live and ready when Redis answers and the worker consumes, in the intake's terminus format", async () => {
    const { base } = await start(async () => 'PONG', true);
    expect(await answer(`${base}/health/live`)).toEqual({ ...HEALTHY, body: { status: 'ok', info: {}, error: {}, details: {} } });
    const checks = { redis: { status: 'up', latency_ms: expect.any(Number) }, worker: { status: 'up' } };
    expect(await answer(`${base}/health/ready`)).toEqual({ ...HEALTHY, body: { status: 'ok', info: checks, error: {}, details: checks } });
  });

  it('is not ready when Redis does not answer within a second, or the worker is not consuming: a problem document naming each', async () => {
    const { base } = await start(() => new Promise<string>(() => undefined), false);
    const started = Date.now();
    const ready = await answer(`${base}/health/ready`);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(ready).toEqual({
      ...NOT_READY,
      body: {
        type: 'about:blank',
        title: 'Service Unavailable',
        status: 503,
        detail: 'Not ready: Redis (the lead queue) does not answer; the worker is not consuming the queue (starting, paused or shutting down).',
      },
    });
    expect((await answer(`${base}/health/live`)).status).toBe(200);
  });

  it('names only what is not ready', async () => {
    const paused = await start(async () => 'PONG', false);
    expect(await answer(`${paused.base}/health/ready`)).toMatchObject({
      ...NOT_READY,
      body: { detail: 'Not ready: the worker is not consuming the queue (starting, paused or shutting down).' },
    });
    const unreachable = await start(async () => Promise.reject(new Error('Connection is closed.')), true);
    expect(await answer(`${unreachable.base}/health/ready`)).toMatchObject({ ...NOT_READY, body: { detail: 'Not ready: Redis (the lead queue) does not answer.' } });
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    const { base } = await start(async () => 'PONG', true);
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('serves nothing without a port', async () => {
    const server = new WorkerMetricsServer({}, {} as WorkerMetrics, {} as LeadDeliveryProcessor, {} as Redis);
    await server.onModuleInit();
    expect(server.port).toBeUndefined();
  });

  it('stops the boot, naming METRICS_PORT, when the port is taken', async () => {
    const { base } = await start(async () => 'PONG', true);
    const taken = Number(new URL(base).port);
    await expect(start(async () => 'PONG', true, taken)).rejects.toThrow(`METRICS_PORT ${taken} cannot be listened on (EADDRINUSE)`);
  });
});
