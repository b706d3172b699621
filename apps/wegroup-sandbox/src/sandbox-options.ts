import { ConfigError, Env, integer, optionalString, url } from '@app/config';
import { SANDBOX_DEFAULTS } from '@app/wegroup/wegroup.config';
import { readLogLevel } from '@app/observability';
import { SSO_ONLY_SCOPES, WEGROUP_SCOPES } from '@app/wegroup/scopes';
import type { LoggerService, LogLevel } from '@nestjs/common';
import type { LogLevelName } from '@app/observability';
import type { DestinationStream } from 'pino';
import { MAX_DELAY_MS } from './sandbox.constants';

/** token -> scopes */
export type TokenScopes = ReadonlyMap<string, readonly string[]>;

export type TokenScheme = 'apikey' | 'bearer';

export interface SandboxOptions {
  port: number;
  host: string;
  /** Accepted with `Authorization: apikey <token>`. */
  apiTokens: TokenScopes;
  /** Accepted with `Authorization: bearer <token>`. */
  bearerTokens: TokenScopes;
  /** Latency added before every lead answer. */
  delayMs: number;
  /** How many requests (and created leads) are kept; the oldest go first. */
  maxRecords: number;
  /**
   * Statuses posted, in this order, to each callback URL of every lead created (the lead's
   * `prospect.callbacks`); empty: no callbacks.
   */
  callbacks: readonly string[];
  /** Wait before each status is posted (after the lead is created, then between statuses). */
  callbackDelayMs: number;
  /**
   * Validates bearer tokens that are not registered locally at an OAuth 2.0 introspection
   * endpoint (RFC 7662), as WeGroup's API does with tokens of its own SSO. Off when undefined.
   */
  introspection?: IntrospectionOptions;
  /** Nest logger setting (the most verbose level listed sets the log level); tests pass `false`. */
  logger?: LoggerService | LogLevel[] | false;
  /** Log level (LOG_LEVEL); wins over `logger`. */
  logLevel?: LogLevelName;
  /** Where the JSON log lines go (stdout by default); tests capture them here. */
  logDestination?: DestinationStream;
}

export interface IntrospectionOptions {
  /** The provider's introspection endpoint (`introspection_endpoint` of its discovery document). */
  url: string;
  /** The sandbox's own client at the provider; authenticates with client_secret_basic. */
  clientId: string;
  clientSecret: string;
  /** How long an active answer is reused, in ms (at most {@link MAX_INTROSPECTION_CACHE_MS}; 0 = never). */
  cacheMs?: number;
  /** Per-request timeout toward the introspection endpoint, in ms. */
  timeoutMs?: number;
}

export const MAX_INTROSPECTION_CACHE_MS = 1_000;
export const DEFAULT_INTROSPECTION_TIMEOUT_MS = 5_000;

const INTROSPECTION_VARIABLES = ['SANDBOX_INTROSPECTION_URL', 'SANDBOX_INTROSPECTION_CLIENT_ID', 'SANDBOX_INTROSPECTION_CLIENT_SECRET'] as const;

export const DEFAULT_SANDBOX_OPTIONS: SandboxOptions = {
  port: 3100,
  host: '0.0.0.0',
  apiTokens: new Map([[SANDBOX_DEFAULTS.apiToken, ['leads:write']]]),
  bearerTokens: new Map(),
  delayMs: 0,
  maxRecords: 50_000,
  callbacks: [],
  callbackDelayMs: 200,
};

/** Statuses of a callback sequence: at most this many, each a short word. */
export const MAX_CALLBACK_STATUSES = 20;
const CALLBACK_STATUS = /^[A-Za-z0-9_.:-]{1,64}$/;

/** The problem with a callback sequence (env or control API), or undefined. Names the entry by position. */
export function callbackStatusesProblem(statuses: readonly unknown[]): string | undefined {
  if (statuses.length > MAX_CALLBACK_STATUSES) return `holds ${statuses.length} statuses; at most ${MAX_CALLBACK_STATUSES}`;
  const bad = statuses.findIndex((status) => typeof status !== 'string' || !CALLBACK_STATUS.test(status));
  return bad < 0 ? undefined : `entry ${bad + 1} must be a status of 1 to 64 letters, digits, "_", ".", ":" or "-"`;
}

/** SANDBOX_CALLBACKS: comma-separated statuses (e.g. `created,offer_sent`). */
function readCallbackStatuses(env: Env): string[] {
  const raw = env.SANDBOX_CALLBACKS?.trim();
  if (!raw) return [];
  const statuses = raw.split(',').map((status) => status.trim());
  const problem = callbackStatusesProblem(statuses);
  if (problem) throw new ConfigError('SANDBOX_CALLBACKS', problem);
  return statuses;
}

export const MAX_RECORDS_LIMIT = 5_000_000;

const TOKEN_PATTERN = /^[^\s,=|]+$/;

/** Problems with one token's scopes, or undefined when they are fine. Shared with the control API. */
export function scopeProblem(scheme: TokenScheme, scopes: readonly string[]): string | undefined {
  for (const scope of scopes) {
    if (!(WEGROUP_SCOPES as readonly string[]).includes(scope)) {
      return `unknown scope "${scope}" (known: ${WEGROUP_SCOPES.join(', ')})`;
    }
    if (scheme === 'apikey' && (SSO_ONLY_SCOPES as readonly string[]).includes(scope)) {
      return `scope "${scope}", which WeGroup grants only to SSO (bearer) tokens, never to an API token`;
    }
  }
  return undefined;
}

export function isValidToken(token: string): boolean {
  return TOKEN_PATTERN.test(token) && token.length <= 4096;
}

/**
 * Parses `token=scope1|scope2,other=scope` lists. Error messages refer to entries by
 * position and never quote a token.
 */
export function parseTokenList(env: Env, name: string, scheme: TokenScheme, fallback: TokenScopes): TokenScopes {
  const raw = env[name]?.trim();
  if (!raw) return new Map(fallback);
  const tokens = new Map<string, readonly string[]>();
  raw.split(',').forEach((entry, index) => {
    const item = entry.trim();
    if (item === '') return;
    const where = `entry ${index + 1}`;
    const eq = item.indexOf('=');
    if (eq < 0) throw new ConfigError(name, `${where} has no "=": expected comma-separated token=scope1|scope2 entries`);
    const token = item.slice(0, eq).trim();
    if (!isValidToken(token)) throw new ConfigError(name, `${where} has an empty token or one with spaces, ",", "=" or "|"`);
    const scopes = item
      .slice(eq + 1)
      .split('|')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const problem = scopeProblem(scheme, scopes);
    if (problem) throw new ConfigError(name, `${where} has ${problem}`);
    if (tokens.has(token)) throw new ConfigError(name, `${where} repeats a token of an earlier entry`);
    tokens.set(token, [...new Set(scopes)]);
  });
  return tokens;
}

/** Reads SANDBOX_* variables; a bad value throws an Error (ConfigError) whose message starts with the variable. */
export function readSandboxOptions(env: Env = process.env): SandboxOptions {
  const host = env.SANDBOX_HOST?.trim() || DEFAULT_SANDBOX_OPTIONS.host;
  if (/\s/.test(host)) throw new ConfigError('SANDBOX_HOST', 'must be a host name or IP address without spaces');
  return {
    port: integer(env, 'SANDBOX_PORT', DEFAULT_SANDBOX_OPTIONS.port, 0, 65535),
    host,
    apiTokens: parseTokenList(env, 'SANDBOX_API_TOKENS', 'apikey', DEFAULT_SANDBOX_OPTIONS.apiTokens),
    bearerTokens: parseTokenList(env, 'SANDBOX_BEARER_TOKENS', 'bearer', DEFAULT_SANDBOX_OPTIONS.bearerTokens),
    delayMs: integer(env, 'SANDBOX_DELAY_MS', DEFAULT_SANDBOX_OPTIONS.delayMs, 0, MAX_DELAY_MS),
    maxRecords: integer(env, 'SANDBOX_MAX_RECORDS', DEFAULT_SANDBOX_OPTIONS.maxRecords, 1, MAX_RECORDS_LIMIT),
    callbacks: readCallbackStatuses(env),
    callbackDelayMs: integer(env, 'SANDBOX_CALLBACK_DELAY_MS', DEFAULT_SANDBOX_OPTIONS.callbackDelayMs, 0, MAX_DELAY_MS),
    introspection: readIntrospectionOptions(env),
    logLevel: readLogLevel(env),
  };
}

/** SANDBOX_INTROSPECTION_URL, _CLIENT_ID and _CLIENT_SECRET: all three, or none. Never quotes the secret. */
export function readIntrospectionOptions(env: Env): IntrospectionOptions | undefined {
  const present = INTROSPECTION_VARIABLES.filter((name) => optionalString(env, name) !== undefined);
  if (present.length === 0) return undefined;
  const missing = INTROSPECTION_VARIABLES.filter((name) => !present.includes(name));
  if (missing.length > 0) {
    throw new ConfigError(missing[0], `is required when ${present.join(' and ')} ${present.length === 1 ? 'is' : 'are'} set (token introspection needs all three)`);
  }
  return {
    url: url(env, 'SANDBOX_INTROSPECTION_URL', undefined, ['http:', 'https:']),
    clientId: optionalString(env, 'SANDBOX_INTROSPECTION_CLIENT_ID') as string,
    clientSecret: optionalString(env, 'SANDBOX_INTROSPECTION_CLIENT_SECRET') as string,
  };
}
