import { ConfigError, DEMO_SECRETS, Env, integer, isSandbox, Keyring, list, oneOf, optionalString, refuseDemoSecret, string, url } from '@app/config';
import { configNamespace } from '@app/config/config-namespace';
import { API_TOKEN_SCOPES, SSO_ONLY_SCOPES, WEGROUP_SCOPES, WeGroupScope } from './scopes';
import { SANDBOX_DEFAULTS } from './sandbox-defaults';
import { WEGROUP_API_HOSTS, WEGROUP_ENVIRONMENTS, WeGroupEnvironment } from './hosts';

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


const DISTRIBUTION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

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

/** The worker's way to WeGroup: WEGROUP_ENV, WEGROUP_API_URL, the API token and its scopes, the default distribution. */
export const weGroupConfig = configNamespace('wegroup', readWeGroupConfig);

/**
 * What the intake knows of the worker's routes, to answer 422 for a lead with no route: the
 * default distribution and whether an API token delivers to it (WEGROUP_SSO_ONLY), never the token.
 */
export const weGroupRoutesConfig = configNamespace('wegroupRoutes', (env) => ({
  defaultDistributionId: readDefaultDistributionId(env),
  apiTokenConfigured: !readSsoOnly(env, optionalString(env, 'WEGROUP_SSO_CLIENT_ID') !== undefined),
}));

/** WEGROUP_SSO_*, TOKEN_ENCRYPTION_KEY: the partner client; `client` is null when SSO is off. */
export const ssoConfig = configNamespace('sso', (env) => ({ client: readSsoConfig(env) }));

export { SANDBOX_DEFAULTS, type SandboxDefaults } from './sandbox-defaults';
