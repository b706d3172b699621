import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { FASTIFY_REQUEST_ID_OPTIONS, logHttpRequests, useStructuredLogger, withLogging } from '@app/observability';
import { MAX_PARAM_LENGTH, SANDBOX_BODY_LIMIT } from './sandbox.constants';
import { configureSandboxHttp } from './sandbox-http.setup';
import { DEFAULT_SANDBOX_OPTIONS, type SandboxOptions } from './sandbox-options';
import { SandboxModule } from './sandbox.module';
import { SandboxStateService } from './sandbox-state.service';

export { readSandboxOptions, DEFAULT_SANDBOX_OPTIONS, type SandboxOptions } from './sandbox-options';

/**
 * Builds the WeGroup sandbox (not listening yet: call `app.listen(port, host)`).
 * `port`/`host` of the options are only used by main.ts.
 */
export async function createSandboxApp(options: Partial<SandboxOptions> = {}): Promise<NestFastifyApplication> {
  const resolved: SandboxOptions = { ...DEFAULT_SANDBOX_OPTIONS, ...options };
  const adapter = new FastifyAdapter({
    bodyLimit: SANDBOX_BODY_LIMIT,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    keepAliveTimeout: 72_000,
    // The worker's X-Request-ID names the request in the sandbox's logs too.
    ...FASTIFY_REQUEST_ID_OPTIONS,
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    withLogging(SandboxModule.forRoot(resolved), 'wegroup-sandbox', { logger: resolved.logger, logLevel: resolved.logLevel, logDestination: resolved.logDestination }),
    adapter,
    { bodyParser: false, bufferLogs: true },
  );
  useStructuredLogger(app);
  logHttpRequests(app.getHttpAdapter().getInstance() as unknown as FastifyInstance);
  configureSandboxHttp(app.getHttpAdapter().getInstance() as unknown as FastifyInstance, app.get(SandboxStateService));
  return app;
}
