import { HttpStatus, NestApplicationOptions, VersioningType } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { Queue } from 'bullmq';
import { IntakeAppConfig } from '@app/config';
import { ProblemException } from './common/problem';
import { IntakeModule } from './intake.module';
import { LEAD_QUEUE } from './intake.tokens';
import { mountOpsDashboard } from './ops/ops-dashboard';

/** 256 KB: a lead is a few KB; anything near this is a mistake or an attack. */
export const BODY_LIMIT_BYTES = 256 * 1024;

export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('WeGroup lead intake')
    .setDescription(
      'Post leads from a CRM; they are stored durably and delivered to WeGroup in the background. ' +
        'Authenticate with the `X-API-Key` header. Errors are RFC 9457 problem documents.',
    )
    .setVersion('1')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'Your intake key (INTAKE_API_KEYS).' }, 'api-key')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Ops credentials (OPS_USERNAME / OPS_PASSWORD).' }, 'ops')
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Our API takes JSON only; anything else is a 415 that says so, before any parsing. */
function requireJsonBodies(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/') || !BODY_METHODS.has(request.method)) return;
    const hasBody = request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
    const type = request.headers['content-type'];
    if (hasBody && !(type && JSON_TYPE.test(type))) {
      throw new ProblemException(
        HttpStatus.UNSUPPORTED_MEDIA_TYPE,
        `Content-Type must be application/json${type ? `, got "${type.slice(0, 100)}"` : ' (the header is missing)'}.`,
      );
    }
  });
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

export async function createIntakeApp(config: IntakeAppConfig, options: Pick<NestApplicationOptions, 'logger'> = {}): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    IntakeModule.forRoot(config),
    new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES }),
    options,
  );
  app.enableVersioning({ type: VersioningType.URI });
  requireJsonBodies(app.getHttpAdapter().getInstance());
  // Exit 0 after a clean shutdown (Nest would otherwise re-raise the signal).
  app.enableShutdownHooks([], { useProcessExit: true });
  SwaggerModule.setup('docs', app, buildOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' });
  await mountOpsDashboard(app.getHttpAdapter().getInstance(), [app.get<Queue>(LEAD_QUEUE)], config.intake.ops);
  return app;
}
