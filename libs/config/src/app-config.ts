import { isIP } from 'node:net';
import { ConfigError, Env, integer, list, oneOf, optionalString, string, url } from './env';
import { Keyring, KeyringKey } from './keyring';
import { DEMO_SECRETS, isDemoDataKey, isSandbox, refuseDemoSecret } from './demo-secrets';
import { API_TOKEN_SCOPES, SSO_ONLY_SCOPES, WEGROUP_SCOPES, WeGroupScope } from '@app/wegroup/scopes';
import { WEGROUP_API_HOSTS, WEGROUP_ENVIRONMENTS, WeGroupEnvironment } from '@app/wegroup/hosts';

export interface RedisNode {
  host: string;
  port: number;
}

/**
 * Where Redis is: one server (REDIS_URL), a Redis Cluster (REDIS_CLUSTER_NODES, its seed
 * nodes) or a primary watched by Sentinels (REDIS_SENTINELS and REDIS_SENTINEL_NAME).
 */
export type RedisTopology =
  | { kind: 'standalone'; url: string }
  | { kind: 'cluster'; nodes: RedisNode[] }
  | { kind: 'sentinel'; sentinels: RedisNode[]; name: string };

export interface RedisConfig {
  topology: RedisTopology;
  /** REDIS_PASSWORD: for the data nodes (a password in REDIS_URL takes precedence). */
  password: string | null;
  /** REDIS_TLS: TLS to the cluster nodes, or to the Sentinels and the primary (REDIS_URL uses rediss:). */
  tls: boolean;
  /** Raw QUEUE_PREFIX; the key prefix actually used is wrapped in a Cluster hash tag. */
  queuePrefix: string;
  /**
   * REDIS_WAIT_REPLICAS: the intake answers 202 only once this many replicas acknowledged the
   * lead (Redis WAIT after each bulk); 0 = off, the primary's acknowledgement is enough.
   */
  waitReplicas: number;
  /** REDIS_WAIT_TIMEOUT_MS: how long WAIT may take before the leads are answered 503 instead. */
  waitTimeoutMs: number;
}

export interface WeGroupConfig {
  env: WeGroupEnvironment;
  apiUrl: string;
  /** Null when only SSO connections deliver. */
  apiToken: string | null;
  apiTokenScopes: WeGroupScope[];
  distributionId: string;
  timeoutMs: number;
}

/** OAuth 2.0 / OpenID Connect partner client; enabled when WEGROUP_SSO_CLIENT_ID is set. */
export interface SsoConfig {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scopes: WeGroupScope[];
  /** How the client authenticates at the token endpoint. */
  tokenAuthMethod: 'client_secret_basic' | 'client_secret_post';
  /** AES-256-GCM key for tokens at rest. */
  tokenEncryptionKey: Buffer;
}

/** WeGroup's SSO issuers; the sandbox has none of its own. */
export const WEGROUP_SSO_ISSUERS: Record<WeGroupEnvironment, string | null> = {
  sandbox: null,
  staging: 'https://sso.staging.wegroup.be',
  production: 'https://sso.wegroup.be',
};

/** Svix's schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts). */
export const DEFAULT_RETRY_SCHEDULE_SECONDS = [5, 300, 1800, 7200, 18000, 36000, 36000];

/** How leads are retried; shared by the intake (attempt budget) and the worker (delays). */
export interface RetryConfig {
  /** Delay before each retry, in ms; attempts = length + 1. */
  scheduleMs: number[];
  /** A 429 pauses deliveries without spending an attempt, up to this much waiting per lead. */
  maxRateLimitWaitMs: number;
}

export interface DeliveryConfig {
  concurrency: number;
  retry: RetryConfig;
  /** BullMQ lock; a worker that dies loses its jobs to another after about this long. */
  lockMs: number;
  /** On SIGTERM, in-flight deliveries get this long to finish before the worker lets go. */
  shutdownTimeoutMs: number;
  breaker: { threshold: number; cooldownMs: number };
}

export interface RetentionConfig {
  /** Delivered leads keep their personal data this long… */
  deliveredDays: number;
  /** …and their metadata (id, source, status, timestamps, WeGroup lead id) this long. */
  metadataDays: number;
  /** Failed leads are kept whole this long, to be replayed. */
  failedDays: number;
  idempotencyTtlSeconds: number;
}

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
  ops: { username: string; password: string };
}

export interface IntakeAppConfig {
  redis: RedisConfig;
  intake: IntakeConfig;
  defaultDistributionId: string;
  /** Whether an API token delivers to the default distribution (else only SSO connections do). */
  apiTokenConfigured: boolean;
  sso: SsoConfig | null;
  /** Seals lead data at rest (job payloads, attempt logs). */
  dataKeyring: Keyring;
  /** The intake sets the attempt budget and retention on each job it enqueues. */
  retry: RetryConfig;
  retention: RetentionConfig;
}

export interface WorkerAppConfig {
  redis: RedisConfig;
  wegroup: WeGroupConfig;
  delivery: DeliveryConfig;
  sso: SsoConfig | null;
  dataKeyring: Keyring;
  retention: RetentionConfig;
}

/**
 * The intake never calls WeGroup: it reads none of the worker's WeGroup settings (token,
 * scopes, URLs), only what it needs to answer 422 for a lead with no route (the default
 * distribution and WEGROUP_SSO_ONLY), so compose gives the token to the worker alone.
 */
export function readIntakeAppConfig(env: Env): IntakeAppConfig {
  const sso = readSsoConfig(env);
  return {
    redis: readRedisConfig(env),
    intake: readIntakeConfig(env),
    defaultDistributionId: readDefaultDistributionId(env),
    apiTokenConfigured: !readSsoOnly(env, sso !== null),
    sso,
    dataKeyring: readDataKeyring(env),
    retry: readRetryConfig(env),
    retention: readRetentionConfig(env),
  };
}

export function readWorkerAppConfig(env: Env): WorkerAppConfig {
  return {
    redis: readRedisConfig(env),
    wegroup: readWeGroupConfig(env),
    delivery: readDeliveryConfig(env),
    sso: readSsoConfig(env),
    dataKeyring: readDataKeyring(env),
    retention: readRetentionConfig(env),
  };
}

export interface SandboxDefaults {
  apiToken: string;
  distributionId: string;
}

/** What the sandbox accepts out of the box, so `npm start` works without credentials. */
export const SANDBOX_DEFAULTS: SandboxDefaults = {
  apiToken: DEMO_SECRETS.WEGROUP_API_TOKEN,
  distributionId: '11111111-2222-4333-8444-555555555555',
};

const PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DISTRIBUTION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export function readRedisConfig(env: Env): RedisConfig {
  const queuePrefix = string(env, 'QUEUE_PREFIX', 'wg');
  if (!PREFIX_PATTERN.test(queuePrefix)) {
    throw new ConfigError('QUEUE_PREFIX', 'may hold only letters, digits, "_", "." and "-" (at most 64)');
  }
  const topology = readRedisTopology(env);
  const waitReplicas = integer(env, 'REDIS_WAIT_REPLICAS', 0, 0, 16);
  const waitTimeoutMs = integer(env, 'REDIS_WAIT_TIMEOUT_MS', 500, 10, 10_000);
  // WAIT counts the replicas of the node it is sent to, for the writes of that connection; a
  // Cluster client sends a keyless command to any node, so it would prove nothing there.
  if (topology.kind === 'cluster' && waitReplicas > 0) {
    throw new ConfigError(
      'REDIS_WAIT_REPLICAS',
      'is not supported with REDIS_CLUSTER_NODES (WAIT applies per node and connection): unset one of REDIS_WAIT_REPLICAS and REDIS_CLUSTER_NODES, and use min-replicas-to-write on the cluster nodes instead',
    );
  }
  return {
    topology,
    password: optionalString(env, 'REDIS_PASSWORD') ?? null,
    tls: oneOf(env, 'REDIS_TLS', ['true', 'false'] as const, 'false') === 'true',
    queuePrefix,
    waitReplicas,
    waitTimeoutMs,
  };
}

const TOPOLOGY_VARIABLES = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const;

function readRedisTopology(env: Env): RedisTopology {
  const set = TOPOLOGY_VARIABLES.filter((name) => optionalString(env, name) !== undefined);
  if (set.length > 1) {
    const others = set.slice(1).join(' and ');
    throw new ConfigError(set[0], `and ${others} are ${set.length > 2 ? 'all' : 'both'} set: choose one Redis topology (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS)`);
  }
  if (optionalString(env, 'REDIS_SENTINEL_NAME') !== undefined && set[0] !== 'REDIS_SENTINELS') {
    throw new ConfigError('REDIS_SENTINEL_NAME', 'is set but REDIS_SENTINELS is not: list the Sentinels as host:port');
  }
  switch (set[0]) {
    case 'REDIS_CLUSTER_NODES':
      return { kind: 'cluster', nodes: hostPorts(env, 'REDIS_CLUSTER_NODES') };
    case 'REDIS_SENTINELS': {
      const sentinels = hostPorts(env, 'REDIS_SENTINELS');
      const name = optionalString(env, 'REDIS_SENTINEL_NAME');
      if (name === undefined) throw new ConfigError('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS: the name of the monitored primary');
      if (!/^[A-Za-z0-9_.-]{1,128}$/.test(name)) throw new ConfigError('REDIS_SENTINEL_NAME', 'may hold only letters, digits, "_", "." and "-"');
      return { kind: 'sentinel', sentinels, name };
    }
    default:
      if (optionalString(env, 'REDIS_TLS') === 'true') {
        throw new ConfigError('REDIS_TLS', 'applies to REDIS_CLUSTER_NODES and REDIS_SENTINELS; for REDIS_URL use a rediss: URL');
      }
      return { kind: 'standalone', url: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']) };
  }
}

const HOST_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?)$/;

/** A comma-separated list of host:port (an IPv6 address in brackets: [::1]:6379). */
function hostPorts(env: Env, name: string): RedisNode[] {
  const entries = list(env, name);
  if (entries.length === 0) throw new ConfigError(name, 'must list at least one host:port');
  return entries.map((entry) => {
    // Never echo an entry that carries credentials; they belong in REDIS_PASSWORD.
    if (entry.includes('@') || entry.includes('/')) {
      throw new ConfigError(name, 'must be comma-separated host:port entries, without a scheme or credentials (use REDIS_PASSWORD)');
    }
    const colon = entry.lastIndexOf(':');
    const host = colon > 0 ? entry.slice(0, colon) : '';
    const port = colon > 0 ? entry.slice(colon + 1) : '';
    if (!HOST_PATTERN.test(host) || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw new ConfigError(name, `has an invalid entry "${entry}" (expected host:port, e.g. 10.0.0.5:6379)`);
    }
    return { host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(port) };
  });
}

export function readScopes(env: Env, name: string, fallback: WeGroupScope[], separator: RegExp = /,/): WeGroupScope[] {
  const scopes = list(env, name, fallback, separator);
  for (const scope of scopes) {
    if (!(WEGROUP_SCOPES as readonly string[]).includes(scope)) {
      throw new ConfigError(name, `has unknown scope "${scope}" (known: ${WEGROUP_SCOPES.join(', ')})`);
    }
  }
  return scopes as WeGroupScope[];
}

export function isDistributionId(value: string): boolean {
  return DISTRIBUTION_PATTERN.test(value);
}

/** The distribution that receives leads posted without one. */
export function readDefaultDistributionId(env: Env): string {
  const sandbox = isSandbox(env);
  const id = string(env, 'WEGROUP_DISTRIBUTION_ID', sandbox ? SANDBOX_DEFAULTS.distributionId : undefined);
  if (!isDistributionId(id)) {
    throw new ConfigError('WEGROUP_DISTRIBUTION_ID', 'may hold only letters, digits, "_" and "-" (at most 128)');
  }
  // Compose fills in the sandbox's distribution; real WeGroup has no such distribution.
  if (!sandbox && id === SANDBOX_DEFAULTS.distributionId) {
    throw new ConfigError('WEGROUP_DISTRIBUTION_ID', "is the sandbox's demo distribution: outside WEGROUP_ENV=sandbox set the distribution id WeGroup gave you");
  }
  return id;
}

/**
 * WEGROUP_SSO_ONLY=true: with SSO on, leads go through SSO connections only and no API token
 * delivers to WEGROUP_DISTRIBUTION_ID. Both apps read it, so the intake knows the worker's
 * routes without holding the worker's token.
 */
export function readSsoOnly(env: Env, ssoEnabled: boolean): boolean {
  const ssoOnly = oneOf(env, 'WEGROUP_SSO_ONLY', ['true', 'false'] as const, 'false') === 'true';
  if (ssoOnly && !ssoEnabled) {
    throw new ConfigError('WEGROUP_SSO_ONLY', 'is true but WEGROUP_SSO_CLIENT_ID is not set: without SSO the API token is the only way to WeGroup');
  }
  return ssoOnly;
}

function readApiToken(env: Env, sandbox: boolean): string | null {
  const ssoEnabled = optionalString(env, 'WEGROUP_SSO_CLIENT_ID') !== undefined;
  const token = optionalString(env, 'WEGROUP_API_TOKEN');
  if (readSsoOnly(env, ssoEnabled)) {
    if (token !== undefined) {
      throw new ConfigError('WEGROUP_API_TOKEN', 'is set but WEGROUP_SSO_ONLY=true (leads go through SSO connections only): unset one of them');
    }
    return null;
  }
  if (token === undefined && !sandbox) {
    throw new ConfigError('WEGROUP_API_TOKEN', `is required but not set${ssoEnabled ? ' (or set WEGROUP_SSO_ONLY=true to deliver through SSO connections only)' : ''}`);
  }
  refuseDemoSecret(env, 'WEGROUP_API_TOKEN', token === DEMO_SECRETS.WEGROUP_API_TOKEN);
  return token ?? SANDBOX_DEFAULTS.apiToken;
}

export function readWeGroupConfig(env: Env): WeGroupConfig {
  const wgEnv = oneOf(env, 'WEGROUP_ENV', WEGROUP_ENVIRONMENTS, 'sandbox');
  const sandbox = wgEnv === 'sandbox';
  // In sandbox mode the base is our stand-in, wherever it runs (compose names it by service).
  const envBase = sandbox ? url(env, 'WEGROUP_SANDBOX_URL', WEGROUP_API_HOSTS.sandbox, ['http:', 'https:']) : WEGROUP_API_HOSTS[wgEnv];
  const apiUrl = url(env, 'WEGROUP_API_URL', envBase, ['http:', 'https:']);
  const apiTokenScopes = readScopes(env, 'WEGROUP_API_TOKEN_SCOPES', ['leads:write']);
  for (const scope of apiTokenScopes) {
    if (!(API_TOKEN_SCOPES as readonly string[]).includes(scope)) {
      throw new ConfigError(
        'WEGROUP_API_TOKEN_SCOPES',
        `has "${scope}", which WeGroup grants only to SSO connections (${SSO_ONLY_SCOPES.join(', ')}), never to an API token`,
      );
    }
  }
  return {
    env: wgEnv,
    apiUrl,
    apiToken: readApiToken(env, sandbox),
    apiTokenScopes,
    distributionId: readDefaultDistributionId(env),
    timeoutMs: integer(env, 'WEGROUP_TIMEOUT_MS', 15_000, 100, 300_000),
  };
}

export function readSsoConfig(env: Env): SsoConfig | null {
  const clientId = optionalString(env, 'WEGROUP_SSO_CLIENT_ID');
  if (!clientId) return null;
  const wgEnv = oneOf(env, 'WEGROUP_ENV', WEGROUP_ENVIRONMENTS, 'sandbox');
  const issuer = url(env, 'WEGROUP_SSO_ISSUER', WEGROUP_SSO_ISSUERS[wgEnv] ?? undefined, ['http:', 'https:']);
  const scopes = readScopes(env, 'WEGROUP_SSO_SCOPES', ['openid', 'offline', 'leads:write'], /[\s,]+/);
  if (!scopes.includes('openid')) {
    throw new ConfigError('WEGROUP_SSO_SCOPES', 'must include openid: the connection is keyed by the did claim of /userinfo');
  }
  const key = Buffer.from(string(env, 'TOKEN_ENCRYPTION_KEY'), 'base64');
  if (key.length !== 32) throw new ConfigError('TOKEN_ENCRYPTION_KEY', `must be 32 bytes, base64-encoded (got ${key.length} bytes)`);
  return {
    issuer,
    clientId,
    clientSecret: string(env, 'WEGROUP_SSO_CLIENT_SECRET'),
    redirectUri: url(env, 'WEGROUP_SSO_REDIRECT_URI', undefined, ['http:', 'https:']),
    scopes,
    // WeGroup's SSO speaks in login and consent challenges (ORY Hydra's vocabulary), whose
    // clients authenticate with HTTP basic unless registered otherwise.
    tokenAuthMethod: oneOf(env, 'WEGROUP_SSO_TOKEN_AUTH_METHOD', ['client_secret_basic', 'client_secret_post'] as const, 'client_secret_basic'),
    tokenEncryptionKey: key,
  };
}

/** Tokens at rest are sealed under TOKEN_ENCRYPTION_KEY (one key; rotating it means new sign-ins). */
export function ssoKeyring(sso: SsoConfig): Keyring {
  return new Keyring({ id: 'sso', key: sso.tokenEncryptionKey });
}

/**
 * DATA_ENCRYPTION_KEY seals lead data at rest, as `key-id:base64-key`. To rotate, make the
 * new key current and move the old one to DATA_ENCRYPTION_OLD_KEYS: what it sealed stays readable.
 */
export function readDataKeyring(env: Env): Keyring {
  const parse = (name: string, entry: string): KeyringKey => {
    const colon = entry.indexOf(':');
    const id = entry.slice(0, colon).trim();
    const key = Buffer.from(entry.slice(colon + 1).trim(), 'base64');
    if (colon < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      throw new ConfigError(name, 'must be key-id:base64-key (the id: letters, digits, "_" and "-")');
    }
    if (key.length !== 32) throw new ConfigError(name, `key "${id}" must be 32 bytes, base64-encoded (got ${key.length} bytes)`);
    return { id, key };
  };
  const current = parse('DATA_ENCRYPTION_KEY', string(env, 'DATA_ENCRYPTION_KEY'));
  // Old keys may still hold the demo key: data sealed under it stays readable while moving off it.
  refuseDemoSecret(env, 'DATA_ENCRYPTION_KEY', isDemoDataKey(current.key));
  const older = list(env, 'DATA_ENCRYPTION_OLD_KEYS').map((entry) => parse('DATA_ENCRYPTION_OLD_KEYS', entry));
  return new Keyring(current, older);
}

export function readRetryConfig(env: Env): RetryConfig {
  const entries = list(env, 'DELIVERY_RETRY_SCHEDULE', DEFAULT_RETRY_SCHEDULE_SECONDS.map(String));
  const scheduleMs = entries.map((entry) => {
    if (!/^\d+(\.\d+)?$/.test(entry) || Number(entry) > 7 * 86_400) {
      throw new ConfigError('DELIVERY_RETRY_SCHEDULE', `must be comma-separated seconds (each at most 7 days), got "${entry}"`);
    }
    return Math.round(Number(entry) * 1000);
  });
  if (scheduleMs.length > 50) throw new ConfigError('DELIVERY_RETRY_SCHEDULE', 'may hold at most 50 retries');
  return { scheduleMs, maxRateLimitWaitMs: integer(env, 'RATE_LIMIT_MAX_WAIT_SECONDS', 6 * 3600, 0, 7 * 86_400) * 1000 };
}

export function readDeliveryConfig(env: Env): DeliveryConfig {
  return {
    concurrency: integer(env, 'WORKER_CONCURRENCY', 50, 1, 1000),
    retry: readRetryConfig(env),
    lockMs: integer(env, 'DELIVERY_LOCK_MS', 30_000, 1_000, 600_000),
    shutdownTimeoutMs: integer(env, 'WORKER_SHUTDOWN_TIMEOUT_MS', 25_000, 0, 600_000),
    breaker: {
      threshold: integer(env, 'CIRCUIT_BREAKER_THRESHOLD', 20, 1, 100_000),
      cooldownMs: integer(env, 'CIRCUIT_BREAKER_COOLDOWN_MS', 60_000, 100, 3_600_000),
    },
  };
}

export function readRetentionConfig(env: Env): RetentionConfig {
  const deliveredDays = integer(env, 'DELIVERED_RETENTION_DAYS', 7, 1, 3650);
  const failedDays = integer(env, 'FAILED_RETENTION_DAYS', 30, 1, 3650);
  const metadataDays = integer(env, 'LEAD_METADATA_RETENTION_DAYS', 90, 1, 3650);
  const idempotencyTtlSeconds = integer(env, 'IDEMPOTENCY_TTL_SECONDS', 86_400, 1, 30 * 86_400);
  // A replayed key must find its lead: the lead may not be removed before the key expires.
  if (idempotencyTtlSeconds > Math.min(deliveredDays, failedDays) * 86_400) {
    throw new ConfigError('IDEMPOTENCY_TTL_SECONDS', 'must not exceed DELIVERED_RETENTION_DAYS or FAILED_RETENTION_DAYS');
  }
  return { deliveredDays, metadataDays: Math.max(metadataDays, deliveredDays), failedDays, idempotencyTtlSeconds };
}

export function readIntakeConfig(env: Env): IntakeConfig {
  const apiKeys = new Map<string, string>();
  const pairs = list(env, 'INTAKE_API_KEYS');
  if (pairs.length === 0) throw new ConfigError('INTAKE_API_KEYS', 'is required: comma-separated source:key pairs');
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
  const ops = { username: string(env, 'OPS_USERNAME'), password: string(env, 'OPS_PASSWORD') };
  if (ops.password.length < 8) throw new ConfigError('OPS_PASSWORD', 'must be at least 8 characters');
  refuseDemoSecret(env, 'OPS_PASSWORD', ops.password === DEMO_SECRETS.OPS_PASSWORD);
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
