import { loadConfigOrExit, readWorkerAppConfig } from '@app/config';
import { exitOnStartupFailure, readWorkerObservabilityConfig } from '@app/observability';
import { createWorkerApp } from './worker.app';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit(readWorkerAppConfig);
  const { logLevel, metricsPort } = loadConfigOrExit(readWorkerObservabilityConfig);
  await createWorkerApp(config, { logLevel, metricsPort });
}

bootstrap().catch((error: unknown) => exitOnStartupFailure('delivery-worker', error));
