import { DynamicModule, INestApplicationContext, LoggerService, LogLevel, Module, RequestMethod } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { Logger, LoggerModule, Params, PinoLogger } from 'nestjs-pino';
import pino, { DestinationStream } from 'pino';
import type { Options } from 'pino-http';
import { REDACT_PATHS, REDACTED, redactHeaders, redactLogObject, redactUrl, scrubText } from './redaction';
import { requestIdFor } from './request-id';

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
  return question < 0 ? url : url.slice(0, question);
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
 * Errors keep their class, code, message and stack frames, with credentials in their text
 * hidden; never their other fields (an AxiosError carries the request, headers and body
 * included). The stack's own first line is replaced: a stack handed over separately (Nest's
 * `logger.error(message, stack)`) would otherwise carry the original, unvetted message.
 */
export function serializeError(error: unknown): unknown {
  if (typeof error === 'string') return scrubText(error);
  if (error === null || typeof error !== 'object') return REDACTED;
  // pino-http hands over errors already passed through pino's standard serializer.
  const { name, type, message, stack, code } = error as { name?: unknown; type?: unknown; message?: unknown; stack?: unknown; code?: unknown };
  const kind = typeof type === 'string' ? type : typeof name === 'string' ? name : 'Error';
  const text = typeof message === 'string' ? scrubText(message) : undefined;
  const frames = typeof stack === 'string' ? stack.split('\n').filter((line) => /^\s+at /.test(line)) : [];
  return {
    type: kind,
    message: text,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(frames.length > 0 ? { stack: [`${kind}: ${text ?? ''}`, ...frames.map(scrubText)].join('\n') } : {}),
  };
}

/**
 * The one pino configuration every app uses (through nestjs-pino): JSON lines with an ISO
 * time, the level as a word and the app's name; redaction from redaction.ts; one line per
 * HTTP request (without its body) carrying the `request_id`, as does every log line written
 * while the request is handled.
 */
export function loggerParams(service: string, options: AppLoggingOptions = {}): Params {
  const http: Options<IncomingMessage, ServerResponse> = {
    level: resolveLogLevel(options),
    base: { service, pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => redactLogObject(object),
    },
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((arg: unknown) => (typeof arg === 'string' ? scrubText(arg) : arg));
        return method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
    serializers: { req: serializeRequest, res: serializeResponse, err: serializeError },
    // Fastify already named the request (its genReqId, the same rule); this covers other servers.
    genReqId: (req) => (req.id as string | undefined) ?? requestIdFor(req.headers),
    customAttributeKeys: { reqId: 'request_id' },
    quietReqLogger: true,
    autoLogging: { ignore: (req) => QUIET_PATHS.test(pathOf(req)) },
    // A 5xx answer is a warning here: what caused it is logged as an error where it happened.
    customLogLevel: (_req, res, error) => (error ? 'error' : res.statusCode >= 500 ? 'warn' : 'info'),
    customSuccessMessage: (req, res, ms) => `${req.method} ${pathOf(req)} ${res.statusCode} (${ms} ms)`,
    customErrorMessage: (req, res) => `${req.method} ${pathOf(req)} ${res.statusCode} failed`,
  };
  return {
    pinoHttp: options.logDestination ? [http, options.logDestination] : http,
    // nestjs-pino's default route ("{/*splat}") is not matched by @fastify/middie 9: every path, explicitly.
    forRoutes: [{ path: '/{*path}', method: RequestMethod.ALL }],
  };
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
}

let contextLogger: PinoLogger | undefined;

/**
 * Runs `fn` with a child logger bound to `bindings` (e.g. `{ request_id, lead_id }`): every
 * Nest `Logger` call made inside, across awaits, carries them. Without nestjs-pino (unit
 * tests) it just runs `fn`.
 */
export function withLogContext<T>(bindings: Record<string, unknown>, fn: () => T): T {
  if (!PinoLogger.root) return fn();
  contextLogger ??= new PinoLogger({});
  const defined = Object.fromEntries(Object.entries(bindings).filter(([, value]) => value !== undefined && value !== null));
  return contextLogger.runInContext(fn, { bindings: defined });
}
