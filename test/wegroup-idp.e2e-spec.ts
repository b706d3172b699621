import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import * as oidc from 'openid-client';
import { createSandboxApp } from '../apps/wegroup-sandbox/src/sandbox.app';
import { lead as sampleLead } from './support/lead-fixtures';
import { CookieJar, followRedirects, startWeGroupIdp, WEGROUP_IDP_SCOPES, type WeGroupIdp } from './support/wegroup-idp';

/**
 * Proves the in-process OpenID provider (test/support/wegroup-idp.ts) with openid-client v6
 * alone, no app code; then the sandbox's token introspection against it.
 */

const CLIENT_ID = 'crm-connector';
const CLIENT_SECRET = 'crm-connector-secret-0123456789';
const RS = { clientId: 'wegroup-api', clientSecret: 'wegroup-api-secret-0123456789' };
const ALL_SCOPES = 'openid offline api leads:write leads:read';

/** A stand-in for "our app": /start redirects to the provider, /callback answers 200. */
class FakeApp {
  server!: Server;
  origin!: string;
  /** Set by the test before each /start. */
  authorizationUrl?: URL;
  readonly seen: Array<{ path: string; headers: IncomingHttpHeaders }> = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', this.origin);
      this.seen.push({ path: url.pathname, headers: req.headers });
      if (url.pathname === '/start' && this.authorizationUrl) {
        res.writeHead(302, { location: this.authorizationUrl.href, 'set-cookie': 'app_state=abc; Path=/; HttpOnly' });
        res.end();
      } else if (url.pathname === '/callback') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('callback reached');
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get callback(): string {
    return `${this.origin}/callback`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Authorized {
  /** The URL the browser finally reached (our callback, with code or error). */
  callbackUrl: URL;
  verifier: string;
  state: string;
  chain: string[];
}

describe('WeGroupIdp test harness (openid-client v6)', () => {
  const app = new FakeApp();
  let idp: WeGroupIdp;
  let config: oidc.Configuration;

  beforeAll(async () => {
    await app.start();
    idp = await startWeGroupIdp({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [app.callback],
      resourceServer: RS,
      accessTokenTtl: 60,
      account: { sub: 'wg-user-1', did: 'dist-0001', email: 'anna@broker.example', role: 'admin' },
    });
    config = await oidc.discovery(new URL(idp.issuer), CLIENT_ID, undefined, oidc.ClientSecretBasic(CLIENT_SECRET), {
      execute: [oidc.allowInsecureRequests],
    });
  });

  afterAll(async () => {
    await idp?.stop();
    await app.stop();
  });

  afterEach(() => {
    idp.withholdScopes([]);
    idp.setTtl({ accessToken: 60 });
  });

  async function authorize(scope: string, extra: Record<string, string> = {}, jar = new CookieJar()): Promise<Authorized> {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const params: Record<string, string> = {
      redirect_uri: app.callback,
      scope,
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    };
    for (const [key, value] of Object.entries(params)) if (value === '') delete params[key];
    const page = await followRedirects(oidc.buildAuthorizationUrl(config, params), { jar, stopAt: app.origin });
    expect(page).toMatchObject({ status: 200, text: 'callback reached' });
    return { callbackUrl: new URL(page.url), verifier, state, chain: page.chain };
  }

  async function login(scope: string, jar?: CookieJar) {
    const { callbackUrl, verifier, state } = await authorize(scope, {}, jar);
    return oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: verifier, expectedState: state });
  }

  it('publishes discovery that openid-client accepts over plain http', () => {
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(idp.issuer);
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(metadata).toMatchObject({
      authorization_endpoint: `${idp.issuer}/auth`,
      token_endpoint: `${idp.issuer}/token`,
      userinfo_endpoint: `${idp.issuer}/userinfo`,
      introspection_endpoint: `${idp.issuer}/token/introspection`,
      revocation_endpoint: `${idp.issuer}/token/revocation`,
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: expect.arrayContaining(['authorization_code', 'refresh_token']),
    });
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining([...WEGROUP_IDP_SCOPES]));
    expect(metadata.scopes_supported).not.toContain('offline_access');
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(['uid', 'bid', 'did', 'role', 'last_login']));
  });

  it('runs authorization code + PKCE through the automatic interaction, and issues a refresh token with `offline`', async () => {
    const { callbackUrl, verifier, state, chain } = await authorize(ALL_SCOPES);
    expect(chain.some((url) => url.startsWith(`${idp.issuer}/interaction/`))).toBe(true);
    expect(callbackUrl.searchParams.get('code')).toEqual(expect.any(String));
    expect(callbackUrl.searchParams.get('iss')).toBe(idp.issuer);

    const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.expires_in).toBe(60);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens.scope?.split(' ').sort()).toEqual(ALL_SCOPES.split(' ').sort());
    expect(tokens.claims()).toMatchObject({ iss: idp.issuer, aud: CLIENT_ID, sub: 'wg-user-1', did: 'dist-0001', email: 'anna@broker.example' });

    const last = idp.authorizationRequests.at(-1);
    expect(last).toMatchObject({ client_id: CLIENT_ID, code_challenge_method: 'S256', scope: ALL_SCOPES });
    expect(idp.tokenRequests.at(-1)).toEqual({ grantType: 'authorization_code', ok: true });
  });

  it('issues no refresh token without `offline`', async () => {
    const tokens = await login('openid leads:write');
    expect(tokens.access_token).toEqual(expect.any(String));
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.scope?.split(' ').sort()).toEqual(['leads:write', 'openid']);
  });

  it("returns WeGroup's /userinfo claims with just `openid`", async () => {
    const tokens = await login('openid');
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, 'wg-user-1');
    expect(userinfo).toEqual({
      sub: 'wg-user-1',
      uid: expect.any(String),
      bid: expect.any(String),
      did: 'dist-0001',
      email: 'anna@broker.example',
      username: 'broker',
      language: 'nl',
      country: 'BE',
      locale: 'nl-BE',
      role: 'admin',
      last_login: expect.any(String),
    });
  });

  it('leaves withheld scopes out of the token response', async () => {
    idp.withholdScopes(['leads:write']);
    const tokens = await login('openid offline leads:write leads:read');
    expect(tokens.scope?.split(' ').sort()).toEqual(['leads:read', 'offline', 'openid']);
    expect(tokens.refresh_token).toEqual(expect.any(String));
  });

  it('refreshes, and refuses with invalid_grant once every refresh token is revoked', async () => {
    const tokens = await login('openid offline leads:write');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.scope?.split(' ').sort()).toEqual(['leads:write', 'offline', 'openid']);
    // Rotation (the default): a new refresh token each time.
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(idp.count('RefreshToken')).toBeGreaterThan(0);

    expect(idp.revokeAllRefreshTokens()).toBeGreaterThan(0);
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(idp.tokenRequests.at(-1)).toEqual({ grantType: 'refresh_token', ok: false, error: 'invalid_grant' });
  });

  it('introspects: active with scope, then inactive once the access token expired', async () => {
    idp.setTtl({ accessToken: 1 });
    const tokens = await login('openid leads:write');
    expect(tokens.expires_in).toBe(1);
    const answer = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(answer).toMatchObject({ active: true, scope: 'openid leads:write', sub: 'wg-user-1', client_id: CLIENT_ID, token_type: 'Bearer' });

    // A resource server with its own credentials (client_secret_basic), as the sandbox does it.
    const asResourceServer = async (token: string) => {
      const response = await fetch(`${idp.issuer}/token/introspection`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${RS.clientId}:${RS.clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as Record<string, unknown>;
    };
    expect(await asResourceServer(tokens.access_token)).toMatchObject({ active: true, scope: 'openid leads:write' });
    expect(await asResourceServer('not-a-token')).toEqual({ active: false });

    await sleep(2_100);
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toEqual({ active: false });
  });

  it('does not let a resource server introspect refresh tokens', async () => {
    const tokens = await login('openid offline leads:write');
    expect(await oidc.tokenIntrospection(config, tokens.refresh_token!)).toMatchObject({ active: true });
    const response = await fetch(`${idp.issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${RS.clientId}:${RS.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token: tokens.refresh_token! }),
    });
    expect(await response.json()).toEqual({ active: false });
  });

  it('requires PKCE with S256', async () => {
    const without = await authorize('openid', { code_challenge: '', code_challenge_method: '' });
    expect(without.callbackUrl.searchParams.get('error')).toBe('invalid_request');
    expect(without.callbackUrl.searchParams.get('error_description')).toMatch(/PKCE/);

    const plain = await authorize('openid', { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
    expect(plain.callbackUrl.searchParams.get('error')).toBe('invalid_request');
  });

  it('refuses a code redeemed without its verifier', async () => {
    const { callbackUrl, state } = await authorize('openid');
    await expect(
      oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: state }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('denies on demand: the callback gets error=access_denied', async () => {
    idp.denyNext();
    const { callbackUrl, state } = await authorize('openid leads:write');
    expect(callbackUrl.searchParams.get('error')).toBe('access_denied');
    expect(callbackUrl.searchParams.get('state')).toBe(state);
    // Only the next one.
    const again = await authorize('openid leads:write');
    expect(again.callbackUrl.searchParams.get('code')).toEqual(expect.any(String));
  });

  it('logs the browser in again when the test switches accounts', async () => {
    const jar = new CookieJar();
    const first = await login('openid', jar);
    expect(first.claims()?.sub).toBe('wg-user-1');
    idp.setAccount({ sub: 'wg-user-2', did: 'dist-0002' });
    try {
      const second = await login('openid', jar);
      expect(second.claims()).toMatchObject({ sub: 'wg-user-2', did: 'dist-0002', email: 'broker@example.com' });
    } finally {
      idp.setAccount({ sub: 'wg-user-1', did: 'dist-0001', email: 'anna@broker.example', role: 'admin' });
    }
  });

  it('followRedirects: first-request headers only, cookies per host, stops at the app origin', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    app.authorizationUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: app.callback,
      scope: 'openid',
      state: 'xyz',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const jar = new CookieJar();
    app.seen.length = 0;
    const page = await followRedirects(`${app.origin}/start`, { jar, stopAt: app.origin, headers: { authorization: 'Basic b3BzOnB3' } });
    expect(page.status).toBe(200);
    expect(new URL(page.url).pathname).toBe('/callback');
    expect(page.chain[0]).toBe(`${app.origin}/start`);
    expect(app.seen.map((s) => s.path)).toEqual(['/start', '/callback']);
    expect(app.seen[0].headers.authorization).toBe('Basic b3BzOnB3');
    expect(app.seen[1].headers.authorization).toBeUndefined();
    expect(app.seen[1].headers.cookie).toBe('app_state=abc');
    expect(jar.get(app.origin, 'app_state')).toBe('abc');
    expect(jar.get(idp.issuer, '_session')).toEqual(expect.any(String));
  });

  it('supports client_secret_post for the client', async () => {
    const other = await startWeGroupIdp({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [app.callback],
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    try {
      const postConfig = await oidc.discovery(new URL(other.issuer), CLIENT_ID, undefined, oidc.ClientSecretPost(CLIENT_SECRET), {
        execute: [oidc.allowInsecureRequests],
      });
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(postConfig, {
        redirect_uri: app.callback,
        scope: 'openid offline',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const page = await followRedirects(url, { stopAt: app.origin });
      const tokens = await oidc.authorizationCodeGrant(postConfig, new URL(page.url), { pkceCodeVerifier: verifier });
      expect(tokens.refresh_token).toEqual(expect.any(String));
    } finally {
      await other.stop();
    }
  });
});

describe('WeGroup sandbox: bearer tokens validated by introspection', () => {
  const app = new FakeApp();
  let idp: WeGroupIdp;
  let config: oidc.Configuration;
  let sandbox: NestFastifyApplication;
  let sandboxUrl: string;
  const distributionId = 'dist-introspection';

  const lead = sampleLead();

  const push = async (authorization: string) => {
    const response = await fetch(`${sandboxUrl}/v1/api/distributions/${distributionId}/leads/customers`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify(lead),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  async function accessToken(scope: string): Promise<string> {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: app.callback,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const page = await followRedirects(url, { stopAt: app.origin });
    return (await oidc.authorizationCodeGrant(config, new URL(page.url), { pkceCodeVerifier: verifier })).access_token;
  }

  beforeAll(async () => {
    await app.start();
    idp = await startWeGroupIdp({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [app.callback], resourceServer: RS });
    config = await oidc.discovery(new URL(idp.issuer), CLIENT_ID, undefined, oidc.ClientSecretBasic(CLIENT_SECRET), {
      execute: [oidc.allowInsecureRequests],
    });
    sandbox = await createSandboxApp({
      logger: ['error'],
      bearerTokens: new Map([['locally-registered-token', ['leads:write']]]),
      introspection: { url: config.serverMetadata().introspection_endpoint!, clientId: RS.clientId, clientSecret: RS.clientSecret },
    });
    await sandbox.listen(0, '127.0.0.1');
    sandboxUrl = `http://127.0.0.1:${(sandbox.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await sandbox?.close();
    await idp?.stop();
    await app.stop();
  });

  it('accepts an active token with leads:write, and one with api', async () => {
    expect(await push(`Bearer ${await accessToken('openid leads:write')}`)).toMatchObject({ status: 201, body: { distribution_id: distributionId } });
    expect((await push(`bearer ${await accessToken('openid api')}`)).status).toBe(201);
  });

  it('answers 403 for an active token without leads:write or api', async () => {
    expect(await push(`Bearer ${await accessToken('openid leads:read')}`)).toEqual({
      status: 403,
      body: { detail: 'Missing required scope: leads:write' },
    });
  });

  it('answers 401 Invalid token for an unknown token, and for a refresh token', async () => {
    expect(await push('Bearer not-issued-by-anyone')).toEqual({ status: 401, body: { detail: 'Invalid token.' } });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: app.callback,
      scope: 'openid offline leads:write',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const page = await followRedirects(url, { stopAt: app.origin });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url), { pkceCodeVerifier: verifier });
    expect(await push(`Bearer ${tokens.refresh_token}`)).toEqual({ status: 401, body: { detail: 'Invalid token.' } });
  });

  it('still accepts locally registered bearer tokens without asking the provider', async () => {
    const before = idp.requestCount('/token/introspection');
    expect((await push('Bearer locally-registered-token')).status).toBe(201);
    expect(idp.requestCount('/token/introspection')).toBe(before);
  });

  it('caches an active answer for at most a second', async () => {
    const token = await accessToken('openid leads:write');
    const before = idp.requestCount('/token/introspection');
    expect((await push(`Bearer ${token}`)).status).toBe(201);
    expect((await push(`Bearer ${token}`)).status).toBe(201);
    expect(idp.requestCount('/token/introspection')).toBe(before + 1);
    await sleep(1_100);
    expect((await push(`Bearer ${token}`)).status).toBe(201);
    expect(idp.requestCount('/token/introspection')).toBe(before + 2);
  });

  it('refuses a token once it expired (the cache never outlives the token)', async () => {
    idp.setTtl({ accessToken: 1 });
    try {
      const token = await accessToken('openid leads:write');
      expect((await push(`Bearer ${token}`)).status).toBe(201);
      await sleep(2_100);
      expect(await push(`Bearer ${token}`)).toEqual({ status: 401, body: { detail: 'Invalid token.' } });
    } finally {
      idp.setTtl({ accessToken: 3600 });
    }
  });

  it('answers 503 when the introspection endpoint is unreachable or refuses the sandbox', async () => {
    const broken = await createSandboxApp({
      logger: false,
      introspection: { url: `${idp.issuer}/token/introspection`, clientId: RS.clientId, clientSecret: 'wrong-secret' },
    });
    await broken.listen(0, '127.0.0.1');
    try {
      const url = `http://127.0.0.1:${(broken.getHttpServer().address() as AddressInfo).port}/v1/api/distributions/d/leads/customers`;
      const response = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${await accessToken('openid leads:write')}`, 'content-type': 'application/json' },
        body: JSON.stringify(lead),
      });
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ detail: 'Token introspection unavailable.' });
    } finally {
      await broken.close();
    }
  });
});
