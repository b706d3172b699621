import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { HealthCheckResult, HealthIndicatorResult } from '@nestjs/terminus';
import { createServer, IncomingMessage, Server, ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RedisClient } from '@app/queue';
import { REDIS_CONNECTION, withTimeout } from '@app/queue';
import { StartupError } from '@app/observability';
import { LeadDeliveryProcessor } from './lead-delivery.processor';
import { WorkerMetrics } from './worker.metrics';
import { WORKER_OBSERVABILITY } from './worker.tokens';

export interface WorkerObservabilityOptions {
  /** Port of `/metrics`, `/health/live` and `/health/ready`; no server without one (0: any free port). */
  metricsPort?: number;
  /** Interface to listen on. */
  metricsHost?: string;
}

/** Ready means Redis answers a PING within this long (and the worker consumes the queue). */
export const READY_REDIS_TIMEOUT_MS = 1_000;

/** What terminus's @HealthCheck sets on the intake's health answers. */
const HEALTH_CACHE_CONTROL = 'no-cache, no-store, must-revalidate';

/**
 * The worker has no public HTTP; this small server on METRICS_PORT is for Prometheus and
 * the orchestrator only: `GET /metrics`, `GET /health/live` (the process answers) and
 * `GET /health/ready` (Redis answers a PING within a second and the worker is consuming).
 * Health answers read as the intake's: terminus's JSON when up, a 503 problem document
 * naming what is not ready otherwise, so one probe and one dashboard serve both apps.
 * Not meant to be exposed publicly: it has no authentication. A port that cannot be listened
 * on stops the boot, before any lead is taken: a worker without health endpoints would run on
 * unseen, and its orchestrator would keep restarting or never route to it.
 */
@Injectable()
export class WorkerMetricsServer implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(WorkerMetricsServer.name);
  private server?: Server;

  constructor(
    @Inject(WORKER_OBSERVABILITY) private readonly options: WorkerObservabilityOptions,
    private readonly metrics: WorkerMetrics,
    private readonly processor: LeadDeliveryProcessor,
    @Inject(REDIS_CONNECTION) private readonly redis: RedisClient,
  ) {}

  /** The port actually listened on, once listening. */
  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? (address as AddressInfo).port : undefined;
  }

  /** Before any onApplicationBootstrap: the processor starts consuming only once this listens. */
  async onModuleInit(): Promise<void> {
    const { metricsPort, metricsHost = '0.0.0.0' } = this.options;
    if (metricsPort === undefined) return;
    const server = createServer((request, response) => {
      this.handle(request, response).catch(() => {
        if (!response.headersSent) this.send(response, 500, 'text/plain', 'internal error\n');
        else response.destroy();
      });
    });
    // Scrapers and probes make short requests; idle keep-alive sockets must not hold shutdown up.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new StartupError(`METRICS_PORT ${metricsPort} cannot be listened on (${error.code ?? error.message}): free it or set another METRICS_PORT`, { cause: error })),
      );
      server.listen(metricsPort, metricsHost, () => resolve());
    });
    this.server = server;
    this.logger.log(`Metrics and health on port ${this.port}: GET /metrics, /health/live, /health/ready`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') return this.send(response, 405, 'text/plain', 'method not allowed\n', { Allow: 'GET, HEAD' });
    switch (path) {
      case '/metrics':
        return this.send(response, 200, this.metrics.registry.contentType, await this.metrics.registry.metrics());
      case '/health/live':
        return this.sendHealth(response, {});
      case '/health/ready':
        return this.ready(response);
      default:
        return this.send(response, 404, 'text/plain', 'not found\n');
    }
  }

  private async ready(response: ServerResponse): Promise<void> {
    const started = Date.now();
    const redis = await withTimeout(this.redis.ping(), READY_REDIS_TIMEOUT_MS).then(
      () => ({ status: 'up' as const, latency_ms: Date.now() - started }),
      () => null,
    );
    const consuming = this.processor.isRunning();
    if (redis && consuming) return this.sendHealth(response, { redis, worker: { status: 'up' } });
    const reasons = [
      ...(redis ? [] : ['Redis (the lead queue) does not answer']),
      ...(consuming ? [] : ['the worker is not consuming the queue (starting, paused or shutting down)']),
    ];
    this.sendProblem(response, 503, `Not ready: ${reasons.join('; ')}.`);
  }

  /** A healthy answer as the intake's terminus sends it (every indicator up). */
  private sendHealth(response: ServerResponse, indicators: HealthIndicatorResult): void {
    const body: HealthCheckResult = { status: 'ok', info: indicators, error: {}, details: indicators };
    this.send(response, 200, 'application/json; charset=utf-8', JSON.stringify(body), { 'Cache-Control': HEALTH_CACHE_CONTROL });
  }

  /** An RFC 9457 problem document, as the intake answers a failed check. */
  private sendProblem(response: ServerResponse, status: number, detail: string): void {
    const body = { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail };
    this.send(response, status, 'application/problem+json; charset=utf-8', JSON.stringify(body), { 'Cache-Control': HEALTH_CACHE_CONTROL });
  }

  private send(response: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
    response.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
    response.end(response.req?.method === 'HEAD' ? undefined : body);
  }
}
