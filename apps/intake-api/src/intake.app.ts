import { HttpStatus, VersioningType } from '@nestjs/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import helmet, { HelmetOptions } from 'helmet';
import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { LeadsQueue } from '@app/queue';
import { IntakeAppConfig } from './intake.config';
import { AppLoggingOptions, echoRequestId, FASTIFY_REQUEST_ID_OPTIONS, logHttpRequests, useStructuredLogger, withLogging } from '@app/observability';
import { CALLBACK_BODY_LIMIT_BYTES, CALLBACK_ROUTE } from './callbacks/callback-request';
import { WeGroupCallbacksService } from './callbacks/wegroup-callbacks.service';
import { BodyBudget, markInexactNumbers } from './common/body-limits';
import { ProblemException } from './common/problem';
import { SourceRegistry } from '@app/sources';
import { HookIntakeService } from './hooks/hook-intake.service';
import { bodyTypesOf, HOOK_BODY_LIMIT_BYTES, HOOK_ROUTE, isJsonType, PREVIEW_ROUTE, XML_TYPES } from './hooks/hook-request';
import { IntakeModule } from './intake.module';
import { ApiKeyGuard } from './leads/api-key.guard';
import { LEAD_BATCH_ROUTE, unparsedBatchProblem } from './leads/lead-batch';
import { IntakeMetrics } from './metrics/intake.metrics';
import { LeadOpsService } from './ops/lead-ops.service';
import { OpsAuthenticator } from './ops/ops-authenticator';
import { mountOpsDashboard } from './ops/ops-dashboard';
import { mountOpsConsole } from './ops/console/ops-console';
import { OpsSessions } from './ops/console/ops-sessions';
import { OpsAudit } from './ops/ops-audit';
import { LeadStatusService } from './leads/lead-status.service';
import { SourcesService } from './sources/sources.service';
import { SsoConnectionsService } from './connections/sso-connections.service';
import { CreateLeadDto, dataKeyringConfig, LeadIndex, LeadRepository, LeadStats } from '@app/leads';
import { answerDirectly } from './common/direct-route';
import { StrictValidationPipe } from './common/strict-validation.pipe';
import { HooksController } from './hooks/hooks.controller';
import { LeadIntakeController } from './leads/lead-intake.controller';

/** 256 KB: a lead is a few KB; anything near this is a mistake or an attack. */
export const BODY_LIMIT_BYTES = 256 * 1024;

export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('WeGroup lead intake')
    .setDescription(
      'Post leads from a CRM; they are stored durably and delivered to WeGroup in the background. ' +
        'Authenticate with the `X-API-Key` header; a source configured with a signing secret also signs every request (Standard Webhooks `webhook-*` headers). ' +
          "CRMs and lead-ad platforms may instead post their own webhooks to `POST /v1/hooks/{source}` (a source of SOURCES_FILE), authenticated the platform's way. Errors are RFC 9457 problem documents.",
    )
    .setVersion('1')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'Your intake key (INTAKE_API_KEYS).' }, 'api-key')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Ops credentials (OPS_USERNAME / OPS_PASSWORD).' }, 'ops')
    .build();
  return SwaggerModule.createDocument(app, config);
}

/**
 * The batch route takes bodies up to INTAKE_BATCH_BODY_LIMIT_BYTES (up to 500 leads), the hook
 * route and its preview HOOK_BODY_LIMIT_BYTES (a Salesforce message of 100 notifications), the
 * WeGroup callback route CALLBACK_BODY_LIMIT_BYTES; every other route BODY_LIMIT_BYTES. Set as the route is registered (Nest does that in init()).
 */
function routeBodyLimits(fastify: FastifyInstance, batchLimit: number): void {
  const limits = new Map([
    [LEAD_BATCH_ROUTE, batchLimit],
    [HOOK_ROUTE, HOOK_BODY_LIMIT_BYTES],
    [PREVIEW_ROUTE, HOOK_BODY_LIMIT_BYTES],
    [CALLBACK_ROUTE, CALLBACK_BODY_LIMIT_BYTES],
  ]);
  fastify.addHook('onRoute', (route) => {
    const limit = limits.get(route.url);
    if (limit !== undefined) route.bodyLimit = limit;
  });
}

const LEAD_ROUTE = '/v1/leads';

/**
 * The routes every lead comes through, answered by their controller methods without Nest's
 * router around them (see direct-route.ts): its per-request machinery was a measurable share
 * of each lead's CPU. The arguments are what the methods' parameter decorators give them; a
 * lead post's body goes through the global pipe's checks, as Nest would pass it.
 */
function answerLeadRoutesDirectly(fastify: FastifyInstance, app: NestFastifyApplication, allowHttpUrls: boolean): void {
  const pipe = new StrictValidationPipe({ allowHttpUrls });
  const idempotencyKey = (request: FastifyRequest) => request.headers['idempotency-key'] as string | undefined;
  answerDirectly(fastify, app, {
    method: 'POST',
    url: LEAD_ROUTE,
    controller: LeadIntakeController,
    handler: 'create',
    args: async (request, reply) => [await pipe.transform(request.body, { type: 'body', metatype: CreateLeadDto }), request, reply, idempotencyKey(request)],
  });
  answerDirectly(fastify, app, {
    method: 'POST',
    url: LEAD_BATCH_ROUTE,
    controller: LeadIntakeController,
    handler: 'createBatch',
    args: (request) => [request.body, request, idempotencyKey(request)],
  });
  answerDirectly(fastify, app, {
    method: 'POST',
    url: HOOK_ROUTE,
    controller: HooksController,
    handler: 'receive',
    args: (request, reply) => [(request.params as { source: string }).source, request, reply, idempotencyKey(request)],
  });
}

/**
 * Our API takes JSON only, but for the platforms' own webhooks (also forms and XML) and their
 * preview (also XML), and WeGroup's callbacks (any type: their format is not published);
 * anything else is a 415 that says so, before any parsing.
 */
function requireJsonBodies(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/') || !BODY_METHODS.has(request.method) || request.routeOptions.url === CALLBACK_ROUTE) return;
    const hasBody = request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
    const type = request.headers['content-type'];
    const types = bodyTypesOf(request.routeOptions.url);
    if (hasBody && !(type && types.accepts(type))) {
      throw new ProblemException(
        HttpStatus.UNSUPPORTED_MEDIA_TYPE,
        `Content-Type must be ${types.names}${type ? `, got "${type.slice(0, 100)}"` : ' (the header is missing)'}.`,
      );
    }
  });
}

/**
 * XML bodies (Salesforce's SOAP Outbound Messages) are parsed by the adapter, over the text:
 * the body is that text, and the bytes are kept (rawBody) like every other body's. Only the
 * hook and preview routes let XML past requireJsonBodies.
 */
function parseXmlAsText(app: NestFastifyApplication): void {
  app.useBodyParser(XML_TYPES, { bodyLimit: HOOK_BODY_LIMIT_BYTES }, (_request, body, done) => done(null, body.toString('utf8')));
}

/**
 * JSON as Nest would parse it (Fastify's parser, refusing `__proto__` and `constructor`
 * poisoning), except that a batch whose text already shows too many entries is refused
 * before it is parsed: a body of tiny fields near the batch's 5 MB parses into ten times that.
 */
function parseJson(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  const json = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser('application/json', { bodyLimit: BODY_LIMIT_BYTES }, (request, body, done) => {
    const problem = request.routeOptions.url === LEAD_BATCH_ROUTE ? unparsedBatchProblem(body as Buffer) : null;
    if (problem) return done(problem, undefined);
    // Typed for text, it takes the bytes as they are (as Nest passes them).
    json(request as FastifyRequest, body as unknown as string, done);
  });
}

/**
 * WeGroup's callbacks come in any content type: a type no other parser takes is read as bytes
 * (kept as rawBody, the text stored), on the callback route only. Elsewhere such a body stays
 * what it was before this parser: Fastify's 415. Added on Fastify itself, not through Nest,
 * which would otherwise take a catch-all parser for its own JSON and form parsers.
 */
function readAnyTypeOnCallbacks(fastify: FastifyInstance): void {
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: CALLBACK_BODY_LIMIT_BYTES }, (request, body, done) => {
    if (request.routeOptions.url !== CALLBACK_ROUTE) {
      return done(Object.assign(new Error('Unsupported Media Type'), { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }), undefined);
    }
    (request as { rawBody?: Buffer }).rawBody = body as Buffer;
    done(null, body);
  });
}

/**
 * JSON is UTF-8 (RFC 8259); other bytes would reach WeGroup mangled, and signatures cover bytes.
 * Numbers no double holds exactly (`1e400`, 30 digits) are marked in the parsed body, so the
 * body checks refuse them by name instead of passing on what JSON.parse made of them. Only in
 * JSON bodies that are leads: a native event is stored as the platform sent it, and its
 * mapping decides what its numbers are.
 */
function requireUtf8Bodies(fastify: FastifyInstance, marksNumbers: (request: FastifyRequest) => boolean): void {
  fastify.addHook('preValidation', async (request) => {
    const raw = (request as { rawBody?: Buffer }).rawBody;
    if (raw && !isUtf8(raw)) {
      const json = isJsonType(request.headers['content-type']);
      throw new ProblemException(HttpStatus.BAD_REQUEST, `The request body is not valid UTF-8${json ? ' (JSON must be UTF-8)' : ''}.`, [
        { field: '(body)', message: 'must be valid UTF-8' },
      ]);
    }
    if (raw && request.body !== null && typeof request.body === 'object' && marksNumbers(request)) markInexactNumbers(raw.toString('utf8'), request.body);
  });
}

/** Lead routes that take a body, and so an X-API-Key that can be checked before it is read. */
const KEYED_BODY_ROUTES = new Set([LEAD_ROUTE, LEAD_BATCH_ROUTE]);

const UNREAD = Symbol('unread body');

/**
 * A lead post without a valid X-API-Key is refused before its body is read: its body is
 * replaced by `{}` (Fastify's preParsing contract: a new stream with the length received), so
 * the guards answer it as always (401, counted by the rate limit), and Node discards the real
 * bytes once the answer is sent. A signing source's signature covers the body, so it is
 * checked after it, by ApiKeyGuard.
 *
 * The hook route likewise: a blocked address or source is answered 429 here, and a request to
 * an unknown source, or failing a check made on headers alone (basic auth, a token, an API
 * key), is left unread and answered by the route (404, 401). Signatures are checked over the
 * body, after it is read. The WeGroup callback route's token is in its path: a wrong one is
 * answered 401 (a blocked address 429) right away.
 */
function refuseUnkeyedBodiesUnread(fastify: FastifyInstance, apiKeys: ApiKeyGuard, hooks: HookIntakeService, callbacks: WeGroupCallbacksService): void {
  const leaveUnread = (request: FastifyRequest) => {
    (request as { [UNREAD]?: boolean })[UNREAD] = true;
  };
  // One hook for the three routes, synchronous for the lead routes: it runs before every request.
  fastify.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route === HOOK_ROUTE) {
      hooks.beforeBody(request).then((unread) => {
        if (unread) leaveUnread(request);
        done();
      }, done);
      return;
    }
    // A WeGroup callback whose token is not the lead's is answered 401 here, its body unread.
    if (route === CALLBACK_ROUTE && request.method === 'POST') {
      callbacks.beforeBody(request).then(() => done(), done);
      return;
    }
    if (request.method === 'POST' && KEYED_BODY_ROUTES.has(route ?? '') && apiKeys.keySource(request) === undefined) leaveUnread(request);
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

/**
 * Whether the body is a platform's payload rather than a lead: the hook route's, but for a
 * `json` source without a mapping (its body is a POST /v1/leads body), and the preview's.
 */
function isNativeBody(request: FastifyRequest, registry: SourceRegistry): boolean {
  const route = request.routeOptions.url;
  if (route === PREVIEW_ROUTE) return true;
  if (route !== HOOK_ROUTE) return false;
  const source = registry.get((request.params as { source?: string }).source ?? '');
  return !(source?.type === 'json' && !source.mapping);
}

/** Logging of the intake: `logger` (Nest levels, as tests pass it), or a pino `logLevel` / `logDestination`. */
export type IntakeAppOptions = AppLoggingOptions;

export async function createIntakeApp(config: IntakeAppConfig, options: IntakeAppOptions = {}): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    withLogging(IntakeModule.forRoot(config), 'intake-api', options),
    new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES, trustProxy: config.intake.trustProxy, ...FASTIFY_REQUEST_ID_OPTIONS }),
    // The raw bytes are what a webhook signature covers.
    { bufferLogs: true, rawBody: true },
  );
  // First of our hooks: the others, and the handlers, run in the request's logging context.
  logHttpRequests(app.getHttpAdapter().getInstance());
  routeBodyLimits(app.getHttpAdapter().getInstance(), config.intake.batchBodyLimitBytes);
  answerLeadRoutesDirectly(app.getHttpAdapter().getInstance(), app, config.intake.allowHttpUrls);
  parseJson(app);
  parseXmlAsText(app);
  useStructuredLogger(app);
  echoRequestId(app.getHttpAdapter().getInstance());
  app.get(IntakeMetrics).attach(app.getHttpAdapter().getInstance());
  securityHeaders(app.getHttpAdapter().getInstance());
  app.enableVersioning({ type: VersioningType.URI });
  // A browser holding the ops credentials must not act for another site: a state-changing
  // request that Sec-Fetch-Site or Origin says is cross-site is a 403 (curl sends neither).
  app.enableCsrfProtection();
  requireJsonBodies(app.getHttpAdapter().getInstance());
  readAnyTypeOnCallbacks(app.getHttpAdapter().getInstance());
  refuseUnkeyedBodiesUnread(app.getHttpAdapter().getInstance(), app.get(ApiKeyGuard), app.get(HookIntakeService), app.get(WeGroupCallbacksService));
  budgetBodiesInFlight(app.getHttpAdapter().getInstance(), new BodyBudget(config.intake.bodyBudgetBytes));
  // A callback is stored as received: its numbers are WeGroup's business, not marked.
  requireUtf8Bodies(
    app.getHttpAdapter().getInstance(),
    (request) => isJsonType(request.headers['content-type']) && !isNativeBody(request, config.registry) && request.routeOptions.url !== CALLBACK_ROUTE,
  );
  // Exit 0 after a clean shutdown (Nest would otherwise re-raise the signal).
  app.enableShutdownHooks([], { useProcessExit: true });
  SwaggerModule.setup('docs', app, buildOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' });
  await mountOpsDashboard(app.getHttpAdapter().getInstance(), { queues: [app.get(LeadsQueue)], authenticator: app.get(OpsAuthenticator), ops: app.get(LeadOpsService) });
  await mountOpsConsole(app.getHttpAdapter().getInstance(), {
    authenticator: app.get(OpsAuthenticator),
    sessions: app.get(OpsSessions),
    allowHttp: config.intake.allowHttpUrls,
    ops: app.get(LeadOpsService),
    statuses: app.get(LeadStatusService),
    leads: app.get(LeadRepository),
    keyring: app.get(dataKeyringConfig.KEY),
    index: app.get(LeadIndex),
    stats: app.get(LeadStats),
    audit: app.get(OpsAudit),
    sources: app.get(SourcesService),
    connections: app.get(SsoConnectionsService),
  });
  return app;
}
