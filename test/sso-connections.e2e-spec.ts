import Redis from 'ioredis';
import { randomBytes, randomUUID } from 'node:crypto';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { keyPrefix } from '@app/queue';
import { createWorkerApp } from '../apps/delivery-worker/src/worker.app';
import { readWorkerAppConfig } from '../apps/delivery-worker/src/worker.config';
import { createSandboxApp } from '../apps/wegroup-sandbox/src/sandbox.app';
import { REDIS_URL } from './support/redis-keys';
import { freePort, lead, OPS_AUTH, SandboxControl, Stack, TEST_LOGGER } from './support/stack';
import { followRedirects, startWeGroupIdp, WeGroupIdp } from './support/wegroup-idp';

const CLIENT = { id: 'lead-ingestion', secret: 'sso-client-secret-0123456789' };
const RESOURCE_SERVER = { clientId: 'wegroup-api', clientSecret: 'resource-server-secret-0123456789' };

type Json = Record<string, any>;

describe('SSO connections: Authorization Code + PKCE against a real OpenID provider', () => {
  let idp: WeGroupIdp;
  let sandbox: NestFastifyApplication;
  let sandboxUrl: string;
  let control: SandboxControl;
  let stack: Stack;
  let redis: Redis;

  beforeAll(async () => {
    const port = await freePort();
    const redirectUri = `http://127.0.0.1:${port}/v1/connections/sso/callback`;
    idp = await startWeGroupIdp({ clientId: CLIENT.id, clientSecret: CLIENT.secret, redirectUris: [redirectUri], resourceServer: RESOURCE_SERVER });
    // The sandbox checks bearer tokens with the provider, as WeGroup's API does with its SSO.
    sandbox = await createSandboxApp({
      logger: TEST_LOGGER,
      introspection: { url: `${idp.issuer}/token/introspection`, ...RESOURCE_SERVER, cacheMs: 0 },
    });
    await sandbox.listen(0, '127.0.0.1');
    sandboxUrl = (await sandbox.getUrl()).replace('[::1]', '127.0.0.1');
    control = new SandboxControl(sandboxUrl);
    stack = await new Stack({
      name: 'sso',
      sandboxUrl,
      port,
      env: {
        WEGROUP_SSO_CLIENT_ID: CLIENT.id,
        WEGROUP_SSO_CLIENT_SECRET: CLIENT.secret,
        WEGROUP_SSO_REDIRECT_URI: redirectUri,
        WEGROUP_SSO_ISSUER: idp.issuer,
        WEGROUP_SSO_SCOPES: 'openid offline leads:write',
        TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      },
    }).start();
    redis = new Redis(REDIS_URL);
  });

  afterAll(async () => {
    redis?.disconnect();
    await stack?.close();
    await sandbox?.close();
    await idp?.stop();
  });

  /** A new WeGroup account (its own distribution) for one test. */
  function newAccount(): { did: string; sub: string } {
    const account = idp.setAccount({ sub: `user-${randomUUID()}`, did: randomUUID(), bid: randomUUID(), username: 'broker-anna', email: 'anna@broker.example' });
    return { did: account.did, sub: account.sub };
  }

  /** A person opening the start URL: WeGroup login and consent happen at the provider. */
  const signIn = () => followRedirects(`${stack.url}/v1/connections/sso/start`, { headers: { authorization: OPS_AUTH }, stopAt: stack.url });

  const ops = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${stack.url}${path}`, { ...init, headers: { authorization: OPS_AUTH, ...init.headers } });
    return { status: response.status, body: (await response.json()) as any };
  };

  const connectionFor = async (did: string): Promise<Json | undefined> =>
    ((await ops('/v1/connections')).body as Json[]).find((c) => c.distribution_id === did);

  it('start → login/consent → callback creates a connection with the right did and scopes', async () => {
    const { did } = newAccount();
    const page = await signIn();
    expect(page.status).toBe(200);
    expect(page.text).toContain('WeGroup account connected');
    expect(page.text).toContain(did);

    const authorization = idp.authorizationRequests.at(-1)!;
    expect(authorization).toMatchObject({ client_id: CLIENT.id, code_challenge_method: 'S256', scope: 'openid offline leads:write' });
    expect(authorization.code_challenge).toEqual(expect.any(String));
    expect(authorization.state).toEqual(expect.any(String));
    expect(authorization.nonce).toEqual(expect.any(String));

    const connection = await connectionFor(did);
    expect(connection).toMatchObject({
      distribution_id: did,
      broker_id: expect.any(String),
      user: { username: 'broker-anna', email: 'anna@broker.example', role: 'broker' },
      scopes: expect.arrayContaining(['openid', 'offline', 'leads:write']),
      has_refresh_token: true,
      status: 'active',
    });
    expect(connection!.features.find((f: Json) => f.feature === 'push_leads').enabled).toBe(true);
    expect((await ops(`/v1/connections/${connection!.id}`)).body).toEqual(connection);

    // No route returns a token, and none is stored in clear.
    const tokens = [...idp.stored('AccessToken'), ...idp.stored('RefreshToken')].map((t) => String(t.jti));
    const listed = JSON.stringify((await ops('/v1/connections')).body);
    const stored = JSON.stringify(await redis.hgetall(`${keyPrefix(stack.queuePrefix)}:sso:connection:${did}`));
    for (const token of tokens) {
      expect(listed).not.toContain(token);
      expect(stored).not.toContain(token);
    }
  });

  it('delivers a lead for that distribution with the bearer token', async () => {
    const { did } = newAccount();
    await signIn();
    const response = await stack.postLead(lead({ distribution_id: did }));
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as Json;
    const delivered = await stack.waitForStatus(id, ['delivered', 'failed']);
    expect(delivered).toMatchObject({ status: 'delivered', distribution_id: did, wegroup: { status_code: 201 } });
    const [request] = await control.requests(did);
    expect(request.headers.authorization).toMatch(/^bearer \S+$/);
    expect(idp.stored('AccessToken').map((t) => t.jti)).toContain(request.headers.authorization.slice('bearer '.length));
  });

  it('refuses at intake a lead for a distribution with no connection (422 naming it)', async () => {
    const did = randomUUID();
    const response = await stack.postLead(lead({ distribution_id: did }));
    expect(response.status).toBe(422);
    const problem = (await response.json()) as Json;
    expect(problem.errors).toEqual([{ field: 'distribution_id', message: expect.stringContaining(did) }]);
    // The API token's own distribution still works beside SSO.
    expect((await stack.postLead(lead())).status).toBe(202);
  });

  it('refreshes an expired access token once, even with two workers racing, and delivers', async () => {
    const { did } = newAccount();
    idp.setTtl({ accessToken: 1 });
    await signIn();
    idp.setTtl({ accessToken: 3600 });
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // the first access token has expired
    const second = await createWorkerApp(readWorkerAppConfig(stack.env), { logger: TEST_LOGGER });
    try {
      const refreshesBefore = idp.tokenRequests.filter((r) => r.grantType === 'refresh_token').length;
      const ids = await Promise.all(
        Array.from({ length: 20 }, async () => ((await (await stack.postLead(lead({ distribution_id: did }))).json()) as Json).id as string),
      );
      for (const id of ids) expect(await stack.waitForStatus(id, ['delivered', 'failed'])).toMatchObject({ status: 'delivered' });
      const refreshes = idp.tokenRequests.slice().filter((r) => r.grantType === 'refresh_token').length - refreshesBefore;
      expect(refreshes).toBe(1);
      expect(idp.tokenRequests.filter((r) => r.grantType === 'refresh_token' && !r.ok)).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('turns the connection needs_reauth when the refresh token is revoked; its leads wait, then go after a new sign-in', async () => {
    const { did } = newAccount();
    idp.setTtl({ accessToken: 1 });
    await signIn();
    idp.setTtl({ accessToken: 3600 });
    idp.revokeAllRefreshTokens();
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const { id } = (await (await stack.postLead(lead({ distribution_id: did }))).json()) as Json;
    const waiting = await stack.waitForStatus(id, ['waiting_reauth', 'delivered', 'failed']);
    expect(waiting).toMatchObject({ status: 'waiting_reauth', attempts: 0, next_attempt_at: expect.any(String) });
    expect(waiting.last_error).toMatch(/sign in to WeGroup again.*invalid_grant/);
    expect(await connectionFor(did)).toMatchObject({ status: 'needs_reauth', last_error: expect.stringContaining('invalid_grant') });
    expect(await control.requests(did)).toHaveLength(0);

    const page = await signIn();
    expect(page.status).toBe(200);
    expect(await connectionFor(did)).toMatchObject({ status: 'active', last_error: null });
    const delivered = await stack.waitForStatus(id, ['delivered', 'failed'], 15_000);
    expect(delivered).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(delivered.attempts_log.map((e: Json) => e.kind)).toEqual(['held', 'attempt']);
  });

  it('without the offline scope there is no refresh token, and the connection says so', async () => {
    const { did } = newAccount();
    idp.withholdScopes(['offline']);
    try {
      await signIn();
    } finally {
      idp.withholdScopes([]);
    }
    const connection = await connectionFor(did);
    expect(connection).toMatchObject({ has_refresh_token: false });
    expect(connection!.scopes).not.toContain('offline');
    expect(connection!.features.find((f: Json) => f.scope === 'offline').enabled).toBe(false);
  });

  it('reports a missing leads:write grant and never calls WeGroup (no retry)', async () => {
    const { did } = newAccount();
    idp.withholdScopes(['leads:write']);
    try {
      const page = await signIn();
      expect(page.text).toContain('Not granted: leads:write');
    } finally {
      idp.withholdScopes([]);
    }
    const connection = await connectionFor(did);
    expect(connection!.scopes).not.toContain('leads:write');
    expect(connection!.features.find((f: Json) => f.feature === 'push_leads').enabled).toBe(false);

    const { id } = (await (await stack.postLead(lead({ distribution_id: did }))).json()) as Json;
    const failed = await stack.waitForStatus(id, ['delivered', 'failed']);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
    expect(failed.last_error).toMatch(/Missing scope leads:write/);
    expect(await control.requests(did)).toHaveLength(0);
  });

  it('marks leads:write as not effectively granted when WeGroup answers 403', async () => {
    const { did } = newAccount();
    await signIn();
    await control.fault({ status: 403, count: 1, distribution_id: did, body: { detail: 'Broker has no access to this distribution' } });
    const { id } = (await (await stack.postLead(lead({ distribution_id: did }))).json()) as Json;
    expect(await stack.waitForStatus(id, ['delivered', 'failed'])).toMatchObject({ status: 'failed', attempts: 1 });
    const connection = await connectionFor(did);
    expect(connection!.denied_scopes).toEqual(['leads:write']);
    expect(connection!.features.find((f: Json) => f.feature === 'push_leads').enabled).toBe(false);
  });

  it('rejects a bad state, a replayed callback, tampered PKCE and a denied consent, creating nothing', async () => {
    newAccount();
    const count = async () => ((await ops('/v1/connections')).body as Json[]).length;
    const before = await count();

    const bogus = await fetch(`${stack.url}/v1/connections/sso/callback?code=abc&state=forged`);
    expect(bogus.status).toBe(400);
    expect(await bogus.text()).toMatch(/unknown, expired or was already used \(state\)/);

    const first = await signIn();
    expect(first.status).toBe(200);
    const replay = await fetch(first.url);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toMatch(/already used/);

    newAccount();
    const start = await fetch(`${stack.url}/v1/connections/sso/start`, { headers: { authorization: OPS_AUTH }, redirect: 'manual' });
    expect(start.status).toBe(302);
    const tampered = new URL(start.headers.get('location')!);
    tampered.searchParams.set('code_challenge', 'x'.repeat(43));
    const pkce = await followRedirects(tampered, { stopAt: stack.url });
    expect(pkce.status).toBe(400);
    expect(pkce.text).toMatch(/refused to complete the sign-in/);

    idp.denyNext();
    const denied = await signIn();
    expect(denied.status).toBe(400);
    expect(denied.text).toMatch(/did not grant access \(access_denied/);

    expect(await count()).toBe(before + 1); // only the one good sign-in
    expect((await fetch(`${stack.url}/v1/connections/sso/start`, { redirect: 'manual' })).status).toBe(401);
  });

  it('lets ops delete a connection; its distribution is refused afterwards', async () => {
    const { did } = newAccount();
    await signIn();
    const connection = (await connectionFor(did))!;
    expect((await ops(`/v1/connections/${connection.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await ops(`/v1/connections/${connection.id}`)).status).toBe(404);
    expect((await stack.postLead(lead({ distribution_id: did }))).status).toBe(422);
  });
});
