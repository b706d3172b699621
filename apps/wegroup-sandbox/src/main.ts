import { Logger } from '@nestjs/common';
import { createSandboxApp, readSandboxOptions, type SandboxOptions } from './sandbox.app';

async function bootstrap(): Promise<void> {
  let options: SandboxOptions;
  try {
    options = readSandboxOptions(process.env);
  } catch (error) {
    process.stderr.write(`Configuration error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  const app = await createSandboxApp(options);
  app.enableShutdownHooks();
  await app.listen(options.port, options.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  new Logger('WeGroupSandbox').log(`WeGroup sandbox listening on http://${host}:${port}`);
  if (options.introspection) {
    new Logger('WeGroupSandbox').log(`Bearer tokens not registered here are introspected at ${options.introspection.url}`);
  }
}

bootstrap().catch((error: unknown) => {
  new Logger('WeGroupSandbox').error(`Could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
