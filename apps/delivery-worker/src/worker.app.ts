import { INestApplicationContext, NestApplicationOptions } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WorkerAppConfig } from '@app/config';
import { WorkerModule } from './worker.module';

/** The worker is its own process with no public HTTP: an application context only. */
export async function createWorkerApp(
  config: WorkerAppConfig,
  options: Pick<NestApplicationOptions, 'logger'> = {},
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), options);
  // Exit 0 after a clean shutdown (Nest would otherwise re-raise the signal).
  app.enableShutdownHooks([], { useProcessExit: true });
  return app;
}
