import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppLoggingOptions, useStructuredLogger, withLogging } from '@app/observability';
import { WorkerObservabilityOptions } from './worker-metrics.server';
import { WorkerAppConfig } from './worker.config';
import { WorkerModule } from './worker.module';

/**
 * Logging (`logger` as Nest levels, or a pino `logLevel` / `logDestination`) and the
 * metrics/health port (`metricsPort`; none unless given).
 */
export type WorkerAppOptions = AppLoggingOptions & WorkerObservabilityOptions;

/** The worker is its own process with no public HTTP: an application context, plus a small metrics and health port. */
export async function createWorkerApp(config: WorkerAppConfig, options: WorkerAppOptions = {}): Promise<INestApplicationContext> {
  const { metricsPort, metricsHost, ...logging } = options;
  const app = await NestFactory.createApplicationContext(
    withLogging(WorkerModule.forRoot(config, { metricsPort, metricsHost }), 'delivery-worker', logging),
    // A failed start must not flush the buffered start-up lines in Nest's own text format:
    // main.ts says why in one JSON line; a good start flushes them through pino.
    { bufferLogs: true, autoFlushLogs: false },
  );
  useStructuredLogger(app);
  // Exit 0 after a clean shutdown (Nest would otherwise re-raise the signal).
  app.enableShutdownHooks([], { useProcessExit: true });
  return app;
}
