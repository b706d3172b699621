import { WEGROUP_SCOPES } from '@app/wegroup/scopes';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Account, Adapter, AnyObject, Configuration, Provider } from 'oidc-provider';

/**
 * A real OpenID provider (panva's oidc-provider v9, in this process) configured like WeGroup's
 * SSO, for tests: one confidential client, PKCE (S256) required, WeGroup's scopes (`offline`,
 * not `offline_access`, is what earns a refresh token), WeGroup's /userinfo claims, short
 * token lifetimes, introspection and revocation. There is no login page: the interaction URL
 * logs the configured account in and grants the requested scopes at once (minus withheld ones),
 * or denies when told to.
 *
 *   const idp = new WeGroupIdp({ clientId: 'crm', clientSecret: 's3cret', redirectUris: [callback] });
 *   const issuer = await idp.start();          // http://127.0.0.1:<port>
 *   idp.setAccount({ sub: 'u-1', did: 'dist-1', email: 'broker@example.com' });
 *   const page = await followRedirects(startUrl, { jar: new CookieJar(), stopAt: appOrigin });
 *   await idp.stop();
 */

/** WeGroup's scope table: the provider offers exactly the scopes the service knows. */
export const WEGROUP_IDP_SCOPES = WEGROUP_SCOPES;

/** What WeGroup's /userinfo returns; all released with the `openid` scope alone (ID token too). */
export const WEGROUP_USERINFO_CLAIMS = [
  'sub',
  'uid',
  'bid',
  'did',
  'email',
  'username',
  'language',
  'country',
  'locale',
  'role',
  'last_login',
] as const;

export interface WeGroupAccount {
  sub: string;
  uid: string;
  bid: string;
  did: string;
  email: string;
  username: string;
  language: string;
  country: string;
  locale: string;
  role: string;
  last_login: string;
}

export const DEFAULT_WEGROUP_ACCOUNT: WeGroupAccount = {
  sub: 'wg-user-0001',
  uid: '0d9f6f4e-1b0a-4c1e-9a35-6a0f0a3c7e01',
  bid: '6b1d4a8e-2f3c-4d5e-8f60-7a8b9c0d1e02',
  did: '11111111-2222-4333-8444-555555555555',
  email: 'broker@example.com',
  username: 'broker',
  language: 'nl',
  country: 'BE',
  locale: 'nl-BE',
  role: 'broker',
  last_login: '2025-01-01T08:00:00.000Z',
};

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

export interface WeGroupIdpOptions {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** How the client authenticates at the token, introspection and revocation endpoints. Default `client_secret_basic`. */
  tokenEndpointAuthMethod?: ClientAuthMethod;
  /**
   * An extra confidential client for a resource server (e.g. the sandbox) that only
   * introspects tokens (no grants, no redirect URIs; `client_secret_basic`).
   */
  resourceServer?: { clientId: string; clientSecret: string };
  /** The account the next login signs in; the rest of {@link DEFAULT_WEGROUP_ACCOUNT} fills the gaps. */
  account?: Partial<WeGroupAccount>;
  /** Seconds. Defaults: access token 3600, refresh token 8 h (WeGroup staging), ID token 3600. */
  accessTokenTtl?: number;
  refreshTokenTtl?: number;
  idTokenTtl?: number;
  /**
   * true (default): every refresh returns a new refresh token and consumes the old one
   * (re-using a consumed one revokes the whole grant, as oidc-provider does). false: the
   * refresh token stays the same until it expires.
   */
  rotateRefreshTokens?: boolean;
}

export interface IdpRequest {
  method: string;
  /** Path without the query string, e.g. `/token`, `/token/introspection`, `/userinfo`. */
  path: string;
}

export interface TokenRequestRecord {
  grantType: string;
  ok: boolean;
  /** OAuth error code when `ok` is false (e.g. `invalid_grant`). */
  error?: string;
}

/** oidc-provider model names the adapter stores (see {@link WeGroupIdp.count}). */
export type IdpModel =
  | 'AccessToken'
  | 'AuthorizationCode'
  | 'RefreshToken'
  | 'Grant'
  | 'Session'
  | 'Interaction'
  | 'Client'
  | 'ReplayDetection'
  | 'PushedAuthorizationRequest'
  | string;

interface StoredEntry {
  payload: AnyObject;
  /** ms since epoch; undefined = no expiry. */
  expiresAt?: number;
}

const ACCOUNT_SWITCHED_CHECK = 'wegroup_account_switched';

export class WeGroupIdp {
  /** model name -> id -> entry; what the provider persisted. */
  private readonly store = new Map<string, Map<string, StoredEntry>>();
  private readonly accounts = new Map<string, WeGroupAccount>();
  private currentAccount: WeGroupAccount;
  private withheld = new Set<string>();
  private denyPending = false;
  private ttl: { accessToken: number; refreshToken: number; idToken: number };
  private server?: Server;
  private providerInstance?: Provider;
  private issuerUrl?: string;

  /** Every HTTP request the provider received, in order. */
  readonly requests: IdpRequest[] = [];
  /** Parameters of every authorization request the provider accepted (client_id, scope, code_challenge …). */
  readonly authorizationRequests: Array<Record<string, unknown>> = [];
  /** Every token endpoint call, successful or not. */
  readonly tokenRequests: TokenRequestRecord[] = [];

  constructor(private readonly options: WeGroupIdpOptions) {
    this.currentAccount = { ...DEFAULT_WEGROUP_ACCOUNT, ...options.account };
    this.accounts.set(this.currentAccount.sub, this.currentAccount);
    this.ttl = {
      accessToken: options.accessTokenTtl ?? 3600,
      refreshToken: options.refreshTokenTtl ?? 8 * 3600,
      idToken: options.idTokenTtl ?? 3600,
    };
  }

  /** `http://127.0.0.1:<port>`, once started. */
  get issuer(): string {
    if (!this.issuerUrl) throw new Error('WeGroupIdp is not started');
    return this.issuerUrl;
  }

  /** The oidc-provider instance, for anything this class does not wrap. */
  get provider(): Provider {
    if (!this.providerInstance) throw new Error('WeGroupIdp is not started');
    return this.providerInstance;
  }

  get account(): WeGroupAccount {
    return { ...this.currentAccount };
  }

  /** Listens on 127.0.0.1, a random port; resolves to the issuer URL. */
  async start(): Promise<string> {
    if (this.server) return this.issuer;
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.issuerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.providerInstance = await this.createProvider(this.issuerUrl);
    return this.issuerUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /**
   * The account the next login signs in (fields not given come from the default account).
   * A browser whose IdP session belongs to another account is asked to log in again.
   */
  setAccount(account: Partial<WeGroupAccount> & { sub: string }): WeGroupAccount {
    this.currentAccount = { ...DEFAULT_WEGROUP_ACCOUNT, ...account };
    this.accounts.set(this.currentAccount.sub, this.currentAccount);
    return { ...this.currentAccount };
  }

  /** Consent grants every requested scope except these, until changed (`withholdScopes([])` clears). */
  withholdScopes(scopes: readonly string[]): void {
    this.withheld = new Set(scopes);
  }

  /** The next interaction ends with `error=access_denied` instead of a login/consent. */
  denyNext(): void {
    this.denyPending = true;
  }

  /** Changes token lifetimes (seconds) for tokens issued from now on. */
  setTtl(ttl: { accessToken?: number; refreshToken?: number; idToken?: number }): void {
    this.ttl = { ...this.ttl, ...ttl };
  }

  /** Makes every refresh token issued so far unknown: the next refresh gets `invalid_grant`. Returns how many there were. */
  revokeAllRefreshTokens(): number {
    const tokens = this.store.get('RefreshToken');
    const count = tokens?.size ?? 0;
    tokens?.clear();
    return count;
  }

  /** Unexpired entries of one model (`AccessToken`, `RefreshToken`, `Grant`, `Session` …). */
  stored(model: IdpModel): AnyObject[] {
    const entries = this.store.get(model);
    if (!entries) return [];
    const now = Date.now();
    const live: AnyObject[] = [];
    for (const [id, entry] of entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) entries.delete(id);
      else live.push({ ...entry.payload });
    }
    return live;
  }

  count(model: IdpModel): number {
    return this.stored(model).length;
  }

  /** How many requests reached a path (e.g. `/token/introspection`). */
  requestCount(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  // ---- internals ------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://idp.invalid').pathname;
    this.requests.push({ method: req.method ?? 'GET', path });
    const provider = this.providerInstance;
    if (!provider) {
      res.writeHead(503).end('starting');
      return;
    }
    if (path.startsWith('/interaction/')) {
      try {
        await this.interact(provider, req, res);
      } catch (error) {
        if (!res.headersSent) {
          res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(`interaction failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
        }
      }
      return;
    }
    provider.callback()(req, res);
  }

  /** The "login page": logs the account in, consents, or denies, without showing anything. */
  private async interact(provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const interaction = await provider.interactionDetails(req, res);
    if (this.denyPending) {
      this.denyPending = false;
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User denied the authorization request' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const { prompt, params, session } = interaction;
    if (prompt.name === 'login') {
      if (session?.accountId && session.accountId !== this.currentAccount.sub) {
        // The browser's session belongs to another account: forget it here, or oidc-provider
        // would answer the resume with an auto-submitting logout form (no JavaScript in tests).
        this.forgetSession(interaction.uid, session.uid);
      }
      await provider.interactionFinished(req, res, { login: { accountId: this.currentAccount.sub } }, { mergeWithLastSubmission: false });
      return;
    }
    if (prompt.name === 'consent') {
      const grant = interaction.grantId
        ? await provider.Grant.find(interaction.grantId)
        : new provider.Grant({ accountId: session?.accountId, clientId: params.client_id as string });
      if (!grant) throw new Error('grant not found');
      const details = prompt.details;
      const missingScopes: string[] = details.missingOIDCScope ?? [];
      const granted = missingScopes.filter((s) => !this.withheld.has(s));
      const rejected = missingScopes.filter((s) => this.withheld.has(s));
      if (granted.length) grant.addOIDCScope(granted.join(' '));
      if (rejected.length) grant.rejectOIDCScope(rejected.join(' '));
      if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries((details.missingResourceScopes ?? {}) as Record<string, string[]>)) {
        const kept = scopes.filter((s) => !this.withheld.has(s));
        if (kept.length) grant.addResourceScope(indicator, kept.join(' '));
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    throw new Error(`unexpected prompt ${prompt.name}`);
  }

  /** Drops a browser session and unties the pending interaction from it. */
  private forgetSession(interactionUid: string, sessionUid: string | undefined): void {
    const sessions = this.store.get('Session');
    if (sessions && sessionUid) for (const [id, entry] of sessions) if (entry.payload.uid === sessionUid) sessions.delete(id);
    const pending = this.store.get('Interaction')?.get(interactionUid);
    if (pending) delete pending.payload.session;
  }

  private async createProvider(issuer: string): Promise<Provider> {
    const { default: ProviderClass, interactionPolicy } = await loadOidcProvider();
    const policy = interactionPolicy.base();
    // A browser still signed in as another account logs in again as the current one.
    policy
      .get('login')!
      .checks.add(
        new interactionPolicy.Check(ACCOUNT_SWITCHED_CHECK, 'the test switched accounts', 'login_required', (ctx: any) =>
          ctx.oidc.session.accountId !== undefined && ctx.oidc.session.accountId !== this.currentAccount.sub
            ? interactionPolicy.Check.REQUEST_PROMPT
            : interactionPolicy.Check.NO_NEED_TO_PROMPT,
        ),
      );

    const store = this.store;
    const modelStore = (name: string): Map<string, StoredEntry> => {
      let entries = store.get(name);
      if (!entries) store.set(name, (entries = new Map()));
      return entries;
    };
    const live = (name: string, id: string): StoredEntry | undefined => {
      const entries = modelStore(name);
      const entry = entries.get(id);
      if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
        entries.delete(id);
        return undefined;
      }
      return entry;
    };

    class MemoryAdapter implements Adapter {
      constructor(private readonly name: string) {}
      async upsert(id: string, payload: AnyObject, expiresIn: number): Promise<void> {
        modelStore(this.name).set(id, { payload: { ...payload }, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
      }
      async find(id: string): Promise<AnyObject | undefined> {
        const entry = live(this.name, id);
        return entry ? { ...entry.payload } : undefined;
      }
      async findByUid(uid: string): Promise<AnyObject | undefined> {
        for (const id of modelStore(this.name).keys()) {
          const entry = live(this.name, id);
          if (entry?.payload.uid === uid) return { ...entry.payload };
        }
        return undefined;
      }
      async findByUserCode(userCode: string): Promise<AnyObject | undefined> {
        for (const id of modelStore(this.name).keys()) {
          const entry = live(this.name, id);
          if (entry?.payload.userCode === userCode) return { ...entry.payload };
        }
        return undefined;
      }
      async consume(id: string): Promise<void> {
        const entry = live(this.name, id);
        if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
      }
      async destroy(id: string): Promise<void> {
        modelStore(this.name).delete(id);
      }
      async revokeByGrantId(grantId: string): Promise<void> {
        for (const entries of store.values()) {
          for (const [id, entry] of entries) if (entry.payload.grantId === grantId) entries.delete(id);
        }
      }
    }

    const { clientId, clientSecret, redirectUris, resourceServer } = this.options;
    const clients: AnyObject[] = [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: this.options.tokenEndpointAuthMethod ?? 'client_secret_basic',
        scope: WEGROUP_IDP_SCOPES.join(' '),
      },
    ];
    if (resourceServer) {
      clients.push({
        client_id: resourceServer.clientId,
        client_secret: resourceServer.clientSecret,
        redirect_uris: [],
        grant_types: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      });
    }

    const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const rotate = this.options.rotateRefreshTokens ?? true;

    const configuration: Configuration = {
      adapter: MemoryAdapter,
      clients,
      jwks: { keys: [{ ...signingKey, kid: 'wegroup-idp-test', use: 'sig', alg: 'RS256' }] },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      scopes: [...WEGROUP_IDP_SCOPES],
      claims: { acr: null, auth_time: null, iss: null, sid: null, openid: [...WEGROUP_USERINFO_CLAIMS] },
      // Custom claims in the ID token too, not only at /userinfo.
      conformIdTokenClaims: false,
      routes: { userinfo: '/userinfo' },
      pkce: { required: () => true },
      // WeGroup's `offline` (not `offline_access`) earns the refresh token.
      issueRefreshToken: async (_ctx: unknown, client: any, code: any) =>
        client.grantTypeAllowed('refresh_token') && code.scopes.has('offline'),
      expiresWithSession: async (_ctx: unknown, code: any) => !code.scopes.has('offline'),
      rotateRefreshToken: () => rotate,
      ttl: {
        AccessToken: () => this.ttl.accessToken,
        AuthorizationCode: 60,
        ClientCredentials: 600,
        DeviceCode: 600,
        BackchannelAuthenticationRequest: 600,
        IdToken: () => this.ttl.idToken,
        RefreshToken: () => this.ttl.refreshToken,
        Interaction: 600,
        Session: 24 * 3600,
        Grant: () => Math.max(this.ttl.refreshToken, 24 * 3600),
      },
      findAccount: (_ctx: unknown, sub: string): Account | undefined => {
        const account = this.accounts.get(sub);
        if (!account) return undefined;
        return { accountId: sub, claims: () => ({ ...account }) };
      },
      interactions: { policy, url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      features: {
        devInteractions: { enabled: false },
        // The client may introspect its own tokens; anyone else (a resource server) only access tokens.
        introspection: {
          enabled: true,
          allowedPolicy: async (_ctx: unknown, client: any, token: any) => token.clientId === client.clientId || token.kind !== 'RefreshToken',
        },
        revocation: { enabled: true, allowedPolicy: async (_ctx: unknown, client: any, token: any) => token.clientId === client.clientId },
      },
      clientBasedCORS: () => false,
      renderError: async (ctx: any, out: Record<string, string>) => {
        ctx.type = 'text/plain; charset=utf-8';
        ctx.body = Object.entries(out)
          .map(([key, value]) => `${key}: ${value}`)
          .join('\n');
      },
    };

    const provider = new ProviderClass(issuer, configuration);
    provider.on('authorization.accepted', (ctx: any) => this.authorizationRequests.push({ ...ctx.oidc.params }));
    provider.on('grant.success', (ctx: any) => this.tokenRequests.push({ grantType: String(ctx.oidc.params?.grant_type), ok: true }));
    provider.on('grant.error', (ctx: any, error: any) =>
      this.tokenRequests.push({ grantType: String(ctx.oidc.params?.grant_type), ok: false, error: error?.error ?? String(error) }),
    );
    provider.on('server_error', (_ctx: unknown, error: unknown) => console.error('WeGroupIdp server_error', error));
    return provider;
  }
}

/** Starts a {@link WeGroupIdp}; `idp.issuer` is its URL. */
export async function startWeGroupIdp(options: WeGroupIdpOptions): Promise<WeGroupIdp> {
  const idp = new WeGroupIdp(options);
  await idp.start();
  return idp;
}

/**
 * oidc-provider 9 warns once, on load, that it wants Node 22 LTS; it works on Node 20.19+, so
 * that one warning is kept out of test output (everything else it says passes through).
 */
async function loadOidcProvider(): Promise<typeof import('oidc-provider')> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
    warn.apply(console, args);
  };
  try {
    return await import('oidc-provider');
  } finally {
    console.warn = warn;
  }
}

// ---- a browser, as far as redirects and cookies go -------------------------------------

interface StoredCookie {
  name: string;
  value: string;
  path: string;
  expiresAt?: number;
}

/**
 * Cookies per host (`host:port`, so two local servers on different ports never share
 * cookies; a real browser would share them). Honours Path, Max-Age and Expires; ignores
 * Domain, Secure and SameSite.
 */
export class CookieJar {
  private readonly hosts = new Map<string, Map<string, StoredCookie>>();

  /** Stores the Set-Cookie headers of a response to `url`. */
  store(url: string | URL, headers: Headers): void {
    const target = new URL(url);
    for (const line of headers.getSetCookie()) this.set(target, line);
  }

  /** The Cookie header to send to `url`, or undefined. */
  header(url: string | URL): string | undefined {
    const target = new URL(url);
    const cookies = this.hosts.get(target.host);
    if (!cookies) return undefined;
    const now = Date.now();
    const matching: StoredCookie[] = [];
    for (const [key, cookie] of cookies) {
      if (cookie.expiresAt !== undefined && cookie.expiresAt <= now) cookies.delete(key);
      else if (pathMatches(target.pathname, cookie.path)) matching.push(cookie);
    }
    if (matching.length === 0) return undefined;
    // Longer paths first, as browsers do.
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  /** A cookie's value for a host (`127.0.0.1:3000`) or URL, whatever its path. */
  get(hostOrUrl: string, name: string): string | undefined {
    const host = hostOrUrl.includes('://') ? new URL(hostOrUrl).host : hostOrUrl;
    for (const cookie of this.hosts.get(host)?.values() ?? []) {
      if (cookie.name === name && (cookie.expiresAt === undefined || cookie.expiresAt > Date.now())) return cookie.value;
    }
    return undefined;
  }

  clear(): void {
    this.hosts.clear();
  }

  private set(target: URL, line: string): void {
    const [pair, ...attributes] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = defaultPath(target.pathname);
    let expiresAt: number | undefined;
    let maxAgeSeen = false;
    for (const attribute of attributes) {
      const [rawKey, ...rest] = attribute.split('=');
      const key = rawKey.trim().toLowerCase();
      const attrValue = rest.join('=').trim();
      if (key === 'path' && attrValue.startsWith('/')) path = attrValue;
      else if (key === 'max-age' && /^-?\d+$/.test(attrValue)) {
        maxAgeSeen = true;
        expiresAt = Date.now() + Number(attrValue) * 1000;
      } else if (key === 'expires' && !maxAgeSeen) {
        const when = Date.parse(attrValue);
        if (!Number.isNaN(when)) expiresAt = when;
      }
    }
    let cookies = this.hosts.get(target.host);
    if (!cookies) this.hosts.set(target.host, (cookies = new Map()));
    const key = `${name}\u0000${path}`;
    if (expiresAt !== undefined && expiresAt <= Date.now()) cookies.delete(key);
    else cookies.set(key, { name, value, path, expiresAt });
  }
}

function defaultPath(pathname: string): string {
  const last = pathname.lastIndexOf('/');
  return last <= 0 ? '/' : pathname.slice(0, last);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

export interface FollowRedirectsOptions {
  /** Cookies, kept across calls (a new empty jar when omitted). */
  jar?: CookieJar;
  /**
   * An origin (`http://127.0.0.1:3000`) or URL: after the first request, the first request
   * to this origin is made and its answer returned even if it is a redirect.
   */
  stopAt?: string | URL;
  /** Headers for the first request only (e.g. `authorization: Basic …`). */
  headers?: Record<string, string>;
  /** Default 20. */
  maxRedirects?: number;
}

export interface FollowedResponse {
  /** The URL of the last request made. */
  url: string;
  status: number;
  headers: Headers;
  text: string;
  /** Every URL requested, in order (the first is the one given). */
  chain: string[];
}

/**
 * GETs `url` like a browser: follows 3xx across hosts with per-host cookies, until an answer
 * that is not a redirect, or until it has made the request to `stopAt`'s origin.
 */
export async function followRedirects(url: string | URL, options: FollowRedirectsOptions = {}): Promise<FollowedResponse> {
  const jar = options.jar ?? new CookieJar();
  const stopOrigin = options.stopAt === undefined ? undefined : new URL(options.stopAt).origin;
  const maxRedirects = options.maxRedirects ?? 20;
  const chain: string[] = [];
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    chain.push(current.href);
    const headers: Record<string, string> = hop === 0 ? { ...options.headers } : {};
    const cookie = jar.header(current);
    if (cookie) headers.cookie = cookie;
    const response = await fetch(current, { redirect: 'manual', headers });
    jar.store(current, response.headers);
    const location = response.headers.get('location');
    const isRedirect = response.status >= 300 && response.status < 400 && location !== null;
    const stop = hop > 0 && stopOrigin !== undefined && current.origin === stopOrigin;
    if (!isRedirect || stop) {
      return { url: current.href, status: response.status, headers: response.headers, text: await response.text(), chain };
    }
    await response.body?.cancel();
    if (hop >= maxRedirects) throw new Error(`followRedirects: more than ${maxRedirects} redirects (${chain.join(' -> ')})`);
    current = new URL(location, current);
  }
}
