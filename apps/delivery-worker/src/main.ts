import { loadConfigOrExit, readWorkerAppConfig } from '@app/config';
import { createWorkerApp } from './worker.app';

async function bootstrap(): Promise<void> {
  await createWorkerApp(loadConfigOrExit(readWorkerAppConfig));
}

void bootstrap();
