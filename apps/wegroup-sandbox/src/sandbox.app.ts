import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
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
  });
  const app = await NestFactory.create<NestFastifyApplication>(SandboxModule.forRoot(resolved), adapter, {
    bodyParser: false,
    logger: resolved.logger,
  });
  configureSandboxHttp(app.getHttpAdapter().getInstance() as unknown as FastifyInstance, app.get(SandboxStateService));
  return app;
}
