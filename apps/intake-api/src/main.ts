import { Logger } from '@nestjs/common';
import { loadConfigOrExit, readIntakeAppConfig } from '@app/config';
import { readLogLevel } from '@app/observability';
import { createIntakeApp } from './intake.app';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit(readIntakeAppConfig);
  const app = await createIntakeApp(config, { logLevel: loadConfigOrExit(readLogLevel) });
  await app.listen(config.intake.port, '0.0.0.0');
  new Logger('IntakeApi').log(`Listening on port ${config.intake.port}; Swagger UI at /docs`);
}

void bootstrap();
