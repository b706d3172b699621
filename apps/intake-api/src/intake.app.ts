import { HttpStatus, VersioningType } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import helmet, { HelmetOptions } from 'helmet';
import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { LeadsQueue } from '@app/queue';
import { IntakeAppConfig } from './intake.config';
import { AppLoggingOptions, echoRequestId, FASTIFY_REQUEST_ID_OPTIONS, useStructuredLogger, withLogging } from '@app/observability';
import { BodyBudget, markInexactNumbers } from './common/body-limits';
import { ProblemException } from './common/problem';
import { IntakeModule } from './intake.module';
import { ApiKeyGuard } from './leads/api-key.guard';
import { LEAD_BATCH_ROUTE } from './leads/lead-batch';
import { IntakeMetrics } from './metrics/intake.metrics';
import { LeadOpsService } from './ops/lead-ops.service';
import { OpsAuthenticator } from './ops/ops-authenticator';
import { mountOpsDashboard } from './ops/ops-dashboard';

/** 256 KB: a lead is a few KB; anything near this is a mistake or an attack. */
export const BODY_LIMIT_BYTES = 256 * 1024;

export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('WeGroup lead intake')
    .setDescription(
      'Post leads from a CRM; they are stored durably and delivered to WeGroup in the background. ' +
        'Authenticate with the `X-API-Key` header; a source configured with a signing secret also signs every request (Standard Webhooks `webhook-*` headers). Errors are RFC 9457 problem documents.',
    )
    .setVersion('1')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'Your intake key (INTAKE_API_KEYS).' }, 'api-key')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Ops credentials (OPS_USERNAME / OPS_PASSWORD).' }, 'ops')
    .build();
  return SwaggerModule.createDocument(app, config);
}

/**
 * The batch route takes bodies up to INTAKE_BATCH_BODY_LIMIT_BYTES (up to 500 leads); every
 * other route BODY_LIMIT_BYTES. Set as the route is registered (Nest does that in init()).
 */
function batchBodyLimit(fastify: FastifyInstance, limit: number): void {
  fastify.addHook('onRoute', (route) => {
    if (route.url === LEAD_BATCH_ROUTE) route.bodyLimit = limit;
  });
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

/**
 * JSON is UTF-8 (RFC 8259); other bytes would reach WeGroup mangled, and signatures cover bytes.
 * Numbers no double holds exactly (`1e400`, 30 digits) are marked in the parsed body, so the
 * body checks refuse them by name instead of passing on what JSON.parse made of them.
 */
function requireUtf8Bodies(fastify: FastifyInstance): void {
  fastify.addHook('preValidation', async (request) => {
    const raw = (request as { rawBody?: Buffer }).rawBody;
    if (raw && !isUtf8(raw)) {
      throw new ProblemException(HttpStatus.BAD_REQUEST, 'The request body is not valid UTF-8 (JSON must be UTF-8).', [
        { field: '(body)', message: 'must be valid UTF-8' },
      ]);
    }
    if (raw && request.body !== null && typeof request.body === 'object') markInexactNumbers(raw.toString('utf8'), request.body);
  });
}

/** Lead routes that take a body, and so an X-API-Key that can be checked before it is read. */
const KEYED_BODY_ROUTES = new Set(['/v1/leads', LEAD_BATCH_ROUTE]);
const UNREAD = Symbol('unread body');

/**
 * A lead post without a valid X-API-Key is refused before its body is read: its body is
 * replaced by `{}` (Fastify's preParsing contract: a new stream with the length received), so
 * the guards answer it as always (401, counted by the rate limit), and Node discards the real
 * bytes once the answer is sent. A signing source's signature covers the body, so it is
 * checked after it, by ApiKeyGuard.
 */
function refuseUnkeyedBodiesUnread(fastify: FastifyInstance, apiKeys: ApiKeyGuard): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (request.method === 'POST' && KEYED_BODY_ROUTES.has(request.routeOptions.url ?? '') && apiKeys.keySource(request) === undefined) {
      (request as { [UNREAD]?: boolean })[UNREAD] = true;
    }
    done();
  });
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    if (!(request as { [UNREAD]?: boolean })[UNREAD]) return done(null, payload);
    const standIn = Readable.from([Buffer.from('{}')]) as Readable & { receivedEncodedLength?: number };
    const declared = Number(request.headers['content-length']);
    if (Number.isInteger(declared) && declared > 0) standIn.receivedEncodedLength = declared;
    done(null, standIn);
  });
}

/**
 * Bodies are held whole, and parsed into several times their size, until their request is
 * answered: the bytes of bodies in flight share one budget (INTAKE_BODY_BUDGET_BYTES). A body
 * that does not fit is not read: 503 + Retry-After. A body is counted at its Content-Length
 * (at the route's limit when chunked), from the request's start to its answer.
 */
function budgetBodiesInFlight(fastify: FastifyInstance, budget: BodyBudget): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!BODY_METHODS.has(request.method) || (request as { [UNREAD]?: boolean })[UNREAD]) return done();
    const limit = request.routeOptions.bodyLimit ?? BODY_LIMIT_BYTES;
    const declared = Number(request.headers['content-length'] ?? Number.NaN);
    // Over the limit, Fastify answers 413 without reading the body.
    const bytes = Number.isFinite(declared) ? (declared > limit ? 0 : declared) : request.headers['transfer-encoding'] !== undefined ? limit : 0;
    if (bytes === 0) return done();
    if (!budget.take(bytes)) {
      return done(
        new ProblemException(
          HttpStatus.SERVICE_UNAVAILABLE,
          'The intake is reading as many request bodies as its memory allows; this one was not read. Retry shortly.',
          undefined,
          { 'Retry-After': String(BODY_BUDGET_RETRY_AFTER_SECONDS) },
        ),
      );
    }
    reply.raw.once('close', () => budget.give(bytes));
    done();
  });
}

const BODY_BUDGET_RETRY_AFTER_SECONDS = 1;

/**
 * Security headers on every answer. The CSP is helmet's default (scripts from this origin
 * only), which Swagger UI and bull-board work with: their scripts are files, their inline
 * parts are styles (allowed) and bull-board's JSON config block (data, never run). No
 * upgrade-insecure-requests: local stacks and in-cluster calls are plain http.
 */
function securityHeaders(fastify: FastifyInstance): void {
  const headers = helmetHeaders({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } });
  fastify.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(headers);
    done();
  });
}

/**
 * helmet's headers for these options, computed once: with fixed options (no CSP nonces) they
 * are the same for every answer, and building them per request (what @fastify/helmet does)
 * was a measurable share of the intake's CPU time.
 */
function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const collector = {
    setHeader: (name: string, value: string | number) => void (headers[name] = String(value)),
    removeHeader: (name: string) => void delete headers[name],
  };
  let failure: unknown;
  helmet(options)({} as never, collector as never, (error?: unknown) => (failure = error));
  if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
  return headers;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

/** Logging of the intake: `logger` (Nest levels, as tests pass it), or a pino `logLevel` / `logDestination`. */
export type IntakeAppOptions = AppLoggingOptions;

export async function createIntakeApp(config: IntakeAppConfig, options: IntakeAppOptions = {}): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    withLogging(IntakeModule.forRoot(config), 'intake-api', options),
    new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES, trustProxy: config.intake.trustProxy, ...FASTIFY_REQUEST_ID_OPTIONS }),
    // The raw bytes are what a webhook signature covers.
    { bufferLogs: true, rawBody: true },
  );
  batchBodyLimit(app.getHttpAdapter().getInstance(), config.intake.batchBodyLimitBytes);
  useStructuredLogger(app);
  echoRequestId(app.getHttpAdapter().getInstance());
  app.get(IntakeMetrics).attach(app.getHttpAdapter().getInstance());
  securityHeaders(app.getHttpAdapter().getInstance());
  app.enableVersioning({ type: VersioningType.URI });
  // A browser holding the ops credentials must not act for another site: a state-changing
  // request that Sec-Fetch-Site or Origin says is cross-site is a 403 (curl sends neither).
  app.enableCsrfProtection();
  requireJsonBodies(app.getHttpAdapter().getInstance());
  refuseUnkeyedBodiesUnread(app.getHttpAdapter().getInstance(), app.get(ApiKeyGuard));
  budgetBodiesInFlight(app.getHttpAdapter().getInstance(), new BodyBudget(config.intake.bodyBudgetBytes));
  requireUtf8Bodies(app.getHttpAdapter().getInstance());
  // Exit 0 after a clean shutdown (Nest would otherwise re-raise the signal).
  app.enableShutdownHooks([], { useProcessExit: true });
  SwaggerModule.setup('docs', app, buildOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' });
  await mountOpsDashboard(app.getHttpAdapter().getInstance(), { queues: [app.get(LeadsQueue)], authenticator: app.get(OpsAuthenticator), ops: app.get(LeadOpsService) });
  return app;
}
