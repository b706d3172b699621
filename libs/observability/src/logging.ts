import { DynamicModule, INestApplicationContext, LoggerService, LogLevel, Module } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { Logger, LoggerModule, Params, PinoLogger } from 'nestjs-pino';
import pino, { DestinationStream } from 'pino';
import type { Options } from 'pino-http';
import { REDACTED, redactHeaders, redactLogObject, redactUrl, scrubText } from './redaction';

/** pino's levels, as LOG_LEVEL takes them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/**
 * How an app logs. Tests pass `logger` as before (Nest's levels, or false for silence),
 * or a pino `logLevel` and a `logDestination` stream to capture every line.
 */
export interface AppLoggingOptions {
  /** Nest's logger setting: the most verbose level listed sets pino's level; false is silent. */
  logger?: LoggerService | LogLevel[] | false;
  /** pino level (LOG_LEVEL); wins over `logger`. Default: info. */
  logLevel?: LogLevelName;
  /** Where the JSON lines go; stdout by default. */
  logDestination?: DestinationStream;
}

const NEST_TO_PINO: Array<[LogLevel, LogLevelName]> = [
  ['verbose', 'trace'],
  ['debug', 'debug'],
  ['log', 'info'],
  ['warn', 'warn'],
  ['error', 'error'],
  ['fatal', 'fatal'],
];

export function resolveLogLevel(options: AppLoggingOptions = {}): LogLevelName {
  if (options.logLevel) return options.logLevel;
  if (options.logger === false) return 'silent';
  if (Array.isArray(options.logger)) {
    const levels = options.logger;
    return NEST_TO_PINO.find(([nest]) => levels.includes(nest))?.[1] ?? 'silent';
  }
  return 'info';
}

/** Health checks and scrapes come every few seconds: answered, not logged. */
const QUIET_PATHS = /^\/(health|metrics)(\/|\?|$)/;

function pathOf(req: IncomingMessage): string {
  const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '';
  const question = url.indexOf('?');
  // A token in the path (a WeGroup callback URL's) is hidden here too: the path is in the message.
  return redactUrl(question < 0 ? url : url.slice(0, question)) ?? '';
}

interface SerializedRequest {
  id?: unknown;
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  remoteAddress?: string;
}

/** A fixed set of fields: never the body, credentials hidden, query values hidden. */
function serializeRequest(req: SerializedRequest) {
  return { id: req.id, method: req.method, url: redactUrl(req.url), headers: redactHeaders(req.headers), remoteAddress: req.remoteAddress };
}

function serializeResponse(res: { statusCode?: number }) {
  return { statusCode: res.statusCode };
}

/**
 * Text inside an error message that can be a value: anything quoted (V8 quotes the input in
 * `"Foo Bar" is not valid JSON`; a property name in quotes goes too, the stack frames still
 * say where), e-mail addresses and URLs with credentials. The full message stays where it is
 * sealed (a lead's attempt log).
 */
const ERROR_VALUES: Array<[RegExp, string]> = [
  [/"[^"\n]*"/g, '"…"'],
  [/(^|[^A-Za-z0-9])'[^'\n]*'(?![A-Za-z0-9])/g, "$1'…'"],
  [/[^\s@"'()<>]+@[^\s@"'()<>]+/g, '…'],
];

function scrubErrorText(text: string): string {
  let result = scrubText(text);
  for (const [pattern, replacement] of ERROR_VALUES) result = result.replace(pattern, replacement);
  return result;
}

/** How many causes deep an error is followed. */
const MAX_CAUSES = 3;

/**
 * Errors keep their class, code, message, stack frames and cause (as far as three deep),
 * with credentials and value-like text in their messages hidden; never their other fields
 * (an AxiosError carries the request, headers and body included). The stack's own first
 * line is replaced: a stack handed over separately (Nest's `logger.error(message, stack)`)
 * would otherwise carry the original, unvetted message.
 */
export function serializeError(error: unknown, depth = 0): unknown {
  if (typeof error === 'string') return scrubText(error);
  if (error === null || typeof error !== 'object') return REDACTED;
  // pino-http hands over errors already passed through pino's standard serializer.
  const { name, type, message, stack, code, cause } = error as { name?: unknown; type?: unknown; message?: unknown; stack?: unknown; code?: unknown; cause?: unknown };
  const kind = typeof type === 'string' ? type : typeof name === 'string' ? name : 'Error';
  const text = typeof message === 'string' ? scrubErrorText(message) : undefined;
  const frames = typeof stack === 'string' ? stack.split('\n').filter((line) => /^\s+at /.test(line)) : [];
  return {
    type: kind,
    message: text,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(frames.length > 0 ? { stack: [`${kind}: ${text ?? ''}`, ...frames.map(scrubText)].join('\n') } : {}),
    ...(cause !== undefined && cause !== null && depth < MAX_CAUSES ? { cause: serializeError(cause, depth + 1) } : {}),
  };
}

/**
 * The one pino configuration every app uses (through nestjs-pino): JSON lines with an ISO
 * time, the level as a word and the app's name; redaction from redaction.ts. The HTTP apps
 * add one line per request with {@link logHttpRequests}.
 */
export function loggerParams(service: string, options: AppLoggingOptions = {}): Params {
  // pino-http only builds the root logger here (nestjs-pino's way), with its request and
  // response serializers wrapped to read the raw request and response: no middleware.
  const http: Options<IncomingMessage, ServerResponse> = {
    level: resolveLogLevel(options),
    base: { service, pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Every line's fields go through redactLogObject and the request's headers through
    // serializeRequest, by name at any depth: pino's path-based `redact` on top of them only
    // repeated the work (it copied and restored each access line, ~3% of the intake's CPU).
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => redactLogObject(object),
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((arg: unknown) => (typeof arg === 'string' ? scrubText(arg) : arg));
        return method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
    serializers: { req: serializeRequest, res: serializeResponse, err: serializeError },
  };
  return { pinoHttp: options.logDestination ? [http, options.logDestination] : http, forRoutes: [] };
}

/**
 * One line per HTTP request (never its body), written once its answer is finished or its
 * connection closed, and a logging context for the request: every line written while it is
 * handled carries its `request_id`. The line: `req` (serializeRequest: id, method, URL and
 * headers, redacted, and the peer's address), `res` (the status) and `responseTime`; a 5xx
 * answer is a warning with an `err` (what caused it is logged as an error where it happened);
 * a connection the client closed before the answer is a warning too, its status null;
 * health checks and scrapes are answered, not logged. Fastify hooks rather than pino-http as
 * Nest middleware (through @fastify/middie), which made two child loggers per request, one of
 * them only to carry the request into the line.
 */
export function logHttpRequests(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!PinoLogger.root) return done();
    const context = logContexts();
    context.runInContext(
      () => {
        const req = request.raw as IncomingMessage & { id?: string };
        // The line's req.id: the id Fastify gave the request (from X-Request-ID when sane).
        req.id = request.id;
        const path = pathOf(req);
        if (!QUIET_PATHS.test(path)) logWhenAnswered(req, path, reply.raw, context.logger, Date.now());
        done();
      },
      { bindings: { request_id: request.id } },
    );
  });
}

/** `path` is the request's, redacted (pathOf), worked out once at its start. */
function logWhenAnswered(req: IncomingMessage, path: string, res: ServerResponse & { err?: unknown }, log: PinoLogger['logger'], started: number): void {
  const complete = (error?: unknown) => {
    res.removeListener('close', complete);
    res.removeListener('finish', complete);
    res.removeListener('error', complete);
    const responseTime = Date.now() - started;
    const failure = error ?? res.err;
    if (!failure && !res.writableFinished) {
      // The client closed the connection before the answer was sent: no status was given
      // (`res.statusCode` would say 200). A lead post may have been stored all the same.
      log.warn({ req, res, responseTime }, `${req.method} ${path} closed by the client before the answer (${responseTime} ms)`);
      return;
    }
    if (failure || res.statusCode >= 500) {
      const err = failure ?? new Error(`failed with status code ${res.statusCode}`);
      log[failure ? 'error' : 'warn']({ req, res, err, responseTime }, `${req.method} ${path} ${res.statusCode} failed`);
      return;
    }
    log.info({ req, res, responseTime }, `${req.method} ${path} ${res.statusCode} (${responseTime} ms)`);
  };
  res.on('close', complete);
  res.on('finish', complete);
  res.on('error', complete);
}

@Module({})
class LoggedApplication {}

/**
 * The app's root module with nestjs-pino beside it. Note: nestjs-pino keeps one pino
 * instance per process (the first app created sets it up), which only matters to tests
 * that run several apps in one process.
 */
export function withLogging(app: DynamicModule, service: string, options: AppLoggingOptions = {}): DynamicModule {
  return { module: LoggedApplication, imports: [LoggerModule.forRoot(loggerParams(service, options)), app] };
}

/** Routes Nest's Logger (every `new Logger(Context)`) to pino; flushes what was buffered during start-up. */
export function useStructuredLogger(app: INestApplicationContext): void {
  app.useLogger(app.get(Logger));
  // Apps created with `autoFlushLogs: false` (so that a failed start prints no text lines).
  app.flushLogs();
}

let contextLogger: PinoLogger | undefined;

/** nestjs-pino's way into a logging context (its PinoLogger, outside DI). */
function logContexts(): PinoLogger {
  contextLogger ??= new PinoLogger({});
  return contextLogger;
}

/**
 * Runs `fn` with a child logger bound to `bindings` (e.g. `{ request_id, lead_id }`): every
 * Nest `Logger` call made inside, across awaits, carries them. Without nestjs-pino (unit
 * tests) it just runs `fn`.
 */
export function withLogContext<T>(bindings: Record<string, unknown>, fn: () => T): T {
  if (!PinoLogger.root) return fn();
  const defined = Object.fromEntries(Object.entries(bindings).filter(([, value]) => value !== undefined && value !== null));
  return logContexts().runInContext(fn, { bindings: defined });
}

/** What {@link RepeatedErrorLog} logs through: Nest's `Logger` fits. */
export interface WarnLogger {
  warn(message: unknown, ...rest: unknown[]): void;
}

/** How often one repeating error is logged again during an outage. */
export const REPEAT_LOG_EVERY_MS = 60_000;

/**
 * Logs the 'error' events of a Redis client, BullMQ Queue or Worker without flooding: while
 * Redis is away each reconnect fails again. The first of each distinct message is logged at
 * once, a repeat at most once per `everyMs` with the count of those left out.
 */
export class RepeatedErrorLog {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: WarnLogger,
    private readonly what: string,
    private readonly everyMs = REPEAT_LOG_EVERY_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The listener to attach: `emitter.on('error', log.listener)`. */
  readonly listener = (error: unknown): void => this.report(error);

  report(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const now = this.now();
    const last = this.seen.get(message);
    if (last && now - last.at < this.everyMs) {
      last.suppressed++;
      return;
    }
    // Distinct messages are few (refused, reset, timed out); bound the map all the same.
    if (!last && this.seen.size >= 100) this.seen.clear();
    const repeats = last?.suppressed ?? 0;
    this.seen.set(message, { at: now, suppressed: 0 });
    this.logger.warn({ err: error, ...(repeats > 0 ? { repeats } : {}) }, `${this.what}: ${message}${repeats > 0 ? ` (${repeats} more since last logged)` : ''}`);
  }

  /** The trouble is over: the next error is news again. */
  reset(): void {
    this.seen.clear();
  }
}

/** A failure to start whose message says it all (it names the variable): logged without a stack. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/**
 * Ends a process that could not start with one JSON line on stdout, like every other line it
 * writes (Nest's logger may still be buffering then, so pino writes it directly and in sync),
 * and exit code 1.
 */
export function exitOnStartupFailure(service: string, error: unknown): never {
  const logger = pino(
    {
      base: { service, pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
    },
    pino.destination({ dest: 1, sync: true }),
  );
  if (error instanceof StartupError) logger.fatal(`Could not start: ${scrubText(error.message)}`);
  else logger.fatal({ err: error }, `Could not start: ${scrubErrorText(error instanceof Error ? error.message : String(error))}`);
  process.exit(1);
}
