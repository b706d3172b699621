import { isIP } from 'node:net';
import { Provider } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { ConfigError, DEMO_SECRETS, Env, integer, list, oneOf, refuseDemoSecret } from '@app/config';
import { configNamespace, provideConfig } from '@app/config/config-namespace';
import { dataKeyringConfig } from '@app/leads';
import { redisConfig } from '@app/queue';
import { retentionConfig, retryConfig } from '@app/leads';
import { ssoConfig, weGroupRoutesConfig } from '@app/wegroup';
import { SourceRegistry, sourcesConfig } from '@app/sources';
import { EventEndpoints, eventsConfig } from '@app/events';
import { HOOK_BODY_LIMIT_BYTES } from './hooks/hook-request';
import { OpsUserConfig, readOpsUsers } from './ops/ops-users';
import { opsConsoleConfig } from './ops/console/ops-console.config';

export interface IntakeConfig {
  port: number;
  /** API key -> source name. */
  apiKeys: Map<string, string>;
  /**
   * Source -> its Standard Webhooks signing secrets (`whsec_…`, several while rotating). A
   * source listed here must sign every request besides sending its X-API-Key.
   */
  webhookSecrets: Map<string, string[]>;
  /** Requests per window per source (per address before authentication), on the lead routes. */
  rateLimit: { limit: number; windowMs: number };
  /** Whether `backref` and `callbacks` may use http (local development); https only otherwise. */
  allowHttpUrls: boolean;
  /** Largest body POST /v1/leads/batch takes, in bytes (the single route takes 256 KB). */
  batchBodyLimitBytes: number;
  /**
   * INTAKE_BODY_BUDGET_BYTES: bytes of request bodies one intake reads and checks at once; a
   * body that would go over waits for none: it is answered 503 + Retry-After.
   */
  bodyBudgetBytes: number;
  /**
   * Which proxies' X-Forwarded-For to believe (Fastify's `trustProxy`): false (none), or the
   * proxies' addresses/CIDRs/range names. Decides the address unauthenticated requests are
   * rate-limited by.
   */
  trustProxy: false | string[];
  /** OPS_USERS and OPS_USERNAME / OPS_PASSWORD: who may use the ops routes, and as which role. */
  ops: { users: OpsUserConfig[] };
}

export function readIntakeConfig(env: Env): IntakeConfig {
  const apiKeys = new Map<string, string>();
  const pairs = list(env, 'INTAKE_API_KEYS');
  // With a sources file, its sources may be the only ones (readIntakeAppConfig checks there is one at least).
  if (pairs.length === 0 && !env.SOURCES_FILE?.trim()) throw new ConfigError('INTAKE_API_KEYS', 'is required: comma-separated source:key pairs');
  for (const pair of pairs) {
    const colon = pair.indexOf(':');
    const source = colon > 0 ? pair.slice(0, colon).trim() : '';
    const key = colon > 0 ? pair.slice(colon + 1).trim() : '';
    if (!source || !key) {
      throw new ConfigError('INTAKE_API_KEYS', 'must be comma-separated source:key pairs (an entry has no source or no key)');
    }
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(source)) {
      throw new ConfigError('INTAKE_API_KEYS', `has an invalid source name "${source}" (letters, digits, "_", "." and "-")`);
    }
    if (key.length < 16) throw new ConfigError('INTAKE_API_KEYS', `key for source "${source}" is shorter than 16 characters`);
    if (apiKeys.has(key)) throw new ConfigError('INTAKE_API_KEYS', `the key for source "${source}" is used twice`);
    refuseDemoSecret(env, 'INTAKE_API_KEYS', key === DEMO_SECRETS.INTAKE_API_KEYS, `the key for source "${source}"`);
    apiKeys.set(key, source);
  }
  const ops = { users: readOpsUsers(env) };
  // 500 leads of a few KB each; at least the single route's 256 KB, at most 64 MiB.
  const batchBodyLimitBytes = integer(env, 'INTAKE_BATCH_BODY_LIMIT_BYTES', 5 * 1024 * 1024, 256 * 1024, 64 * 1024 * 1024);
  return {
    port: integer(env, 'PORT', 3000, 1, 65535),
    apiKeys,
    webhookSecrets: readWebhookSecrets(env, new Set(apiKeys.values())),
    rateLimit: {
      limit: integer(env, 'INTAKE_RATE_LIMIT', 600, 1, 1_000_000),
      windowMs: integer(env, 'INTAKE_RATE_LIMIT_WINDOW_MS', 60_000, 1_000, 86_400_000),
    },
    allowHttpUrls: oneOf(env, 'ALLOW_HTTP_URLS', ['true', 'false'] as const, 'false') === 'true',
    batchBodyLimitBytes,
    bodyBudgetBytes: readBodyBudget(env, batchBodyLimitBytes),
    trustProxy: readTrustProxy(env),
    ops,
  };
}

/**
 * A JSON body takes several times its size on the heap while it is parsed and checked (a 5 MB
 * body of tiny fields ~35 MB), so the intake reads at most this many body bytes at once. 8 MiB
 * keeps that well inside the 128 MB heap the intake runs with (scripts/apps.js) and still reads
 * one largest batch at a time; raise it only with the heap. At least one batch must fit.
 */
const DEFAULT_BODY_BUDGET_BYTES = 8 * 1024 * 1024;

function readBodyBudget(env: Env, batchBodyLimitBytes: number): number {
  const budget = integer(env, 'INTAKE_BODY_BUDGET_BYTES', Math.max(DEFAULT_BODY_BUDGET_BYTES, batchBodyLimitBytes), 256 * 1024, 1024 * 1024 * 1024);
  if (budget < batchBodyLimitBytes) {
    throw new ConfigError(
      'INTAKE_BODY_BUDGET_BYTES',
      `must be at least INTAKE_BATCH_BODY_LIMIT_BYTES (${batchBodyLimitBytes}): a batch of the largest size could never be read`,
    );
  }
  if (budget < HOOK_BODY_LIMIT_BYTES) {
    throw new ConfigError('INTAKE_BODY_BUDGET_BYTES', `must be at least ${HOOK_BODY_LIMIT_BYTES}: the largest body POST /v1/hooks/{source} takes could never be read`);
  }
  return budget;
}

/** proxy-addr's names for address ranges (what Fastify's trustProxy takes besides addresses). */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * INTAKE_TRUST_PROXY: `false` (default), or a comma-separated list of the proxies' addresses,
 * CIDRs, or range names (`loopback`, `linklocal`, `uniquelocal`: private networks such as
 * Docker's). Only a request arriving from one of those has its X-Forwarded-For believed. Not
 * `true` nor a hop count: believing a header a direct caller can write would let it pick its
 * own rate-limit address (Fastify refuses hop counts for the same reason).
 */
export function readTrustProxy(env: Env): false | string[] {
  const raw = env.INTAKE_TRUST_PROXY?.trim();
  if (!raw || raw === 'false') return false;
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const entry of entries) {
    if (PROXY_RANGE_NAMES.includes(entry)) continue;
    const [address, bits, ...rest] = entry.split('/');
    const family = isIP(address);
    const maxBits = family === 6 ? 128 : 32;
    const validBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits);
    if (!family || !validBits || rest.length > 0) {
      throw new ConfigError(
        'INTAKE_TRUST_PROXY',
        `must be false or comma-separated proxy addresses, CIDRs or ${PROXY_RANGE_NAMES.join('/')}; "${entry.slice(0, 64)}" is none of these`,
      );
    }
  }
  return entries;
}

/** Standard Webhooks secrets: `whsec_` and 24 to 64 random bytes in base64. */
const WEBHOOK_SECRET_PATTERN = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

/**
 * INTAKE_WEBHOOK_SECRETS: comma-separated `source:whsec_…` pairs. A source may appear several
 * times (each secret is tried in turn, so a new one can be rolled out before the old one is
 * dropped). The source still identifies itself with its X-API-Key, so it must have one.
 */
export function readWebhookSecrets(env: Env, sources: Set<string>): Map<string, string[]> {
  const secrets = new Map<string, string[]>();
  for (const pair of list(env, 'INTAKE_WEBHOOK_SECRETS')) {
    const colon = pair.indexOf(':');
    const source = colon > 0 ? pair.slice(0, colon).trim() : '';
    const secret = colon > 0 ? pair.slice(colon + 1).trim() : '';
    if (!source || !secret) {
      throw new ConfigError('INTAKE_WEBHOOK_SECRETS', 'must be comma-separated source:whsec_… pairs (an entry has no source or no secret)');
    }
    if (!sources.has(source)) {
      throw new ConfigError('INTAKE_WEBHOOK_SECRETS', `names source "${source}", which has no key in INTAKE_API_KEYS (a signing source still sends X-API-Key)`);
    }
    const match = WEBHOOK_SECRET_PATTERN.exec(secret);
    const bytes = match ? Buffer.from(match[1], 'base64').length : 0;
    if (!match || bytes < 24 || bytes > 64) {
      throw new ConfigError(
        'INTAKE_WEBHOOK_SECRETS',
        `secret for source "${source}" must be "whsec_" followed by 24 to 64 random bytes in base64 (e.g. whsec_$(openssl rand -base64 32))`,
      );
    }
    const known = secrets.get(source) ?? [];
    if (known.includes(secret)) throw new ConfigError('INTAKE_WEBHOOK_SECRETS', `a secret for source "${source}" is listed twice`);
    if (known.length >= 10) throw new ConfigError('INTAKE_WEBHOOK_SECRETS', `source "${source}" has more than 10 secrets`);
    secrets.set(source, [...known, secret]);
  }
  return secrets;
}

/** PORT, INTAKE_*, OPS_*, ALLOW_HTTP_URLS: the intake's HTTP edge. */
export const intakeConfig = configNamespace('intake', readIntakeConfig);

/**
 * Everything the intake reads, by owner. The intake never calls WeGroup: it reads none of the
 * worker's WeGroup settings (token, scopes, URLs), only what it needs to answer 422 for a lead
 * with no route (the default distribution and WEGROUP_SSO_ONLY), so compose gives the token to
 * the worker alone.
 */
export interface IntakeAppConfig {
  redis: ConfigType<typeof redisConfig>;
  intake: ConfigType<typeof intakeConfig>;
  routes: ConfigType<typeof weGroupRoutesConfig>;
  sso: ConfigType<typeof ssoConfig>;
  dataKeyring: ConfigType<typeof dataKeyringConfig>;
  /** The intake sets the attempt budget and retention on each job it enqueues. */
  retry: ConfigType<typeof retryConfig>;
  retention: ConfigType<typeof retentionConfig>;
  /** SOURCES_FILE and the platforms' URLs (PUBLIC_BASE_URL: the hook URLs). */
  sources: ConfigType<typeof sourcesConfig>;
  /** Every source: SOURCES_FILE's and one `json` source per INTAKE_API_KEYS entry. */
  registry: SourceRegistry;
  /** SOURCE_EVENTS …: the intake emits lead.erased (and lead.updated for WeGroup's callbacks). */
  events: ConfigType<typeof eventsConfig>;
  /** Each source's events endpoint, from the file or SOURCE_EVENTS. */
  endpoints: EventEndpoints;
  /** OPS_SESSION_*: the ops console's sign-in sessions. */
  console: ConfigType<typeof opsConsoleConfig>;
}

/** Reads and validates every namespace from an env record (process.env at boot, a test's own record). */
export function readIntakeAppConfig(env: Env): IntakeAppConfig {
  const sso = ssoConfig(env);
  const intake = intakeConfig(env);
  const sources = sourcesConfig(env);
  const registry = sourceRegistry(sources, intake);
  const events = eventsConfig(env);
  // The intake knows every source: SOURCE_EVENTS may name none other, nor one SOURCES_FILE gives an endpoint already.
  const endpoints = new EventEndpoints(registry, events, { everySource: true });
  return {
    redis: redisConfig(env),
    intake,
    sources,
    registry,
    events,
    endpoints,
    routes: weGroupRoutesConfig(env),
    sso,
    dataKeyring: dataKeyringConfig(env),
    retry: retryConfig(env),
    retention: retentionConfig(env),
    console: opsConsoleConfig(env),
  };
}

/**
 * One registry of sources, whichever way each was declared; the intake's X-API-Key keys are
 * its `json` sources' keys (a file `json` source's api_key works on POST /v1/leads too).
 */
export function sourceRegistry(sources: ConfigType<typeof sourcesConfig>, intake: IntakeConfig): SourceRegistry {
  const registry = new SourceRegistry([...sources.sources, ...SourceRegistry.fromApiKeys(intake.apiKeys, intake.webhookSecrets)]);
  if (registry.all().length === 0) {
    throw new ConfigError('INTAKE_API_KEYS', 'is empty and SOURCES_FILE declares no source: declare at least one source in either');
  }
  return registry;
}

export function intakeConfigProviders(config: IntakeAppConfig): Provider[] {
  return [
    provideConfig(redisConfig, config.redis),
    provideConfig(intakeConfig, config.intake),
    provideConfig(weGroupRoutesConfig, config.routes),
    provideConfig(ssoConfig, config.sso),
    provideConfig(dataKeyringConfig, config.dataKeyring),
    provideConfig(retryConfig, config.retry),
    provideConfig(retentionConfig, config.retention),
    provideConfig(sourcesConfig, config.sources),
    provideConfig(eventsConfig, config.events),
    provideConfig(opsConsoleConfig, config.console),
  ];
}
