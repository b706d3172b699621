import { loadConfigOrExit } from '@app/config';
import { exitOnStartupFailure } from '@app/observability';
import { createWorkerApp } from './worker.app';
import { readWorkerAppConfig, readWorkerObservabilityConfig } from './worker.config';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit(readWorkerAppConfig);
  const { logLevel, metricsPort } = loadConfigOrExit(readWorkerObservabilityConfig);
  await createWorkerApp(config, { logLevel, metricsPort });
}

bootstrap().catch((error: unknown) => exitOnStartupFailure('delivery-worker', error));
