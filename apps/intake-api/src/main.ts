import { Logger } from '@nestjs/common';
import { loadConfigOrExit } from '@app/config';
import { exitOnStartupFailure, readLogLevel, StartupError } from '@app/observability';
import { createIntakeApp } from './intake.app';
import { readIntakeAppConfig } from './intake.config';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit(readIntakeAppConfig);
  const app = await createIntakeApp(config, { logLevel: loadConfigOrExit(readLogLevel) });
  await app.listen(config.intake.port, '0.0.0.0').catch((error: NodeJS.ErrnoException) => {
    throw new StartupError(`PORT ${config.intake.port} cannot be listened on (${error.code ?? error.message}): free it or set another PORT`, { cause: error });
  });
  new Logger('IntakeApi').log(`Listening on port ${config.intake.port}; Swagger UI at /docs`);
}

bootstrap().catch((error: unknown) => exitOnStartupFailure('intake-api', error));
