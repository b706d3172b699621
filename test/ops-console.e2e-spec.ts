import { createHash } from 'node:crypto';
import { keyPrefix } from '@app/queue';
import { OPS_CONSOLE_CSP } from '../apps/intake-api/src/ops/console/ops-console';
import { OPS_LOGIN_FAILURES } from '../apps/intake-api/src/ops/ops-authenticator';
import { CONSOLE_OPERATOR, CONSOLE_VIEWER, ConsoleClient, consoleUsersEnv } from './support/ops-console';
import { connectRedis } from './support/redis-keys';
import { lead, OPS, OPS_AUTH, OTHER_SOURCE_KEY, Stack } from './support/stack';

/**
 * The ops console over HTTP, as a browser and as an attacker reach it: sign-in and its
 * throttle, the session cookie's flags, the idle expiry in Redis, CSRF on every post, the CSP,
 * roles enforced by the server, and hostile query strings and paths answered 4xx by name.
 * The pages that read the lead index are exercised in the browser test against the real
 * pipeline; here only what needs no lead.
 */
describe('ops console: sessions, CSRF, CSP, roles, hostile input', () => {
  let stack: Stack;
  let nextAddress = 10;
  const client = () => new ConsoleClient(stack.url, `192.0.2.${nextAddress++}`);

  async function signedIn(user: { name: string; password: string }): Promise<ConsoleClient> {
    const browser = client();
    const answer = await browser.signIn(user.name, user.password);
    expect(answer.status).toBe(303);
    // A page of the signed-in scope gives the session's CSRF token.
    expect((await browser.get('/ops/sources')).status).toBe(200);
    return browser;
  }

  beforeAll(async () => {
    // No worker, no WeGroup: nothing here delivers a lead.
    stack = await new Stack({
      name: 'ops-console',
      sandboxUrl: 'http://127.0.0.1:9',
      worker: false,
      env: { OPS_USERS: await consoleUsersEnv(), INTAKE_TRUST_PROXY: 'loopback', OPS_SESSION_IDLE_MINUTES: '7' },
    }).start();
  });
  afterAll(() => stack?.close());

  describe('signing in', () => {
    it('sends a page without a session to the login form (303), and htmx a 401 with HX-Redirect', async () => {
      const browser = client();
      for (const path of ['/ops', '/ops/leads', '/ops/leads/some-id', '/ops/audit', '/ops/no-such-page']) {
        const answer = await browser.get(path);
        expect([path, answer.status, answer.headers.get('location')]).toEqual([path, 303, '/ops/login']);
      }
      const htmx = await browser.get('/ops/leads?source=x', { 'hx-request': 'true' });
      expect(htmx.status).toBe(401);
      expect(htmx.headers.get('hx-redirect')).toBe('/ops/login');
    });

    it('signs in with the form: a session cookie HttpOnly, Secure, SameSite=Strict, Path=/ops, a new id at every sign-in', async () => {
      const browser = client();
      const form = await browser.get('/ops/login');
      expect(form.status).toBe(200);
      expect(form.text).toContain('name="password"');
      const answer = await browser.post('/ops/login', { name: CONSOLE_VIEWER.name, password: CONSOLE_VIEWER.password });
      expect(answer.status).toBe(303);
      expect(answer.headers.get('location')).toBe('/ops');
      const cookie = answer.headers.getSetCookie().find((line) => line.startsWith('ops_session='))!;
      expect(cookie).toMatch(/; Path=\/ops(;|$)/);
      expect(cookie).toMatch(/; HttpOnly(;|$)/);
      expect(cookie).toMatch(/; Secure(;|$)/);
      expect(cookie).toMatch(/; SameSite=Strict(;|$)/);
      const first = browser.cookies.get('ops_session')!;
      const page = await browser.get('/ops/sources');
      expect(page.status).toBe(200);
      expect(page.text).toContain(`${CONSOLE_VIEWER.name} (viewer)`);

      // Signing in again (with the old cookie sent) gives a new id, and the old one is gone.
      await browser.signIn(CONSOLE_OPERATOR.name, CONSOLE_OPERATOR.password);
      const second = browser.cookies.get('ops_session')!;
      expect(second).not.toBe(first);
      const stale = client();
      stale.cookies.set('ops_session', first);
      expect((await stale.get('/ops/sources')).status).toBe(303);
    });

    it('keeps the session in Redis under the queue’s hash tag, by a digest of its id, expiring after OPS_SESSION_IDLE_MINUTES', async () => {
      const browser = await signedIn(CONSOLE_VIEWER);
      const id = browser.cookies.get('ops_session')!;
      const redis = connectRedis(stack.env);
      try {
        const key = `${keyPrefix(stack.queuePrefix)}:ops:session:${createHash('sha256').update(id).digest('base64url')}`;
        const ttl = await redis.pttl(key);
        expect(ttl).toBeGreaterThan(6 * 60_000);
        expect(ttl).toBeLessThanOrEqual(7 * 60_000);
        const stored = (await redis.get(key))!;
        expect(stored).not.toContain(id);
        // An expired session (the key gone) sends the next page to sign-in again.
        await redis.del(key);
        expect((await browser.get('/ops/sources')).headers.get('location')).toBe('/ops/login');
      } finally {
        redis.disconnect();
      }
    });

    it('follows the configuration, not the session: a user no longer configured is signed out, a changed role applies at once', async () => {
      // Sessions outlive a restart (Redis): as the next boot would find those of a removed user, and of a viewer who was an operator.
      const browser = await signedIn(CONSOLE_VIEWER);
      const id = browser.cookies.get('ops_session')!;
      const keyOf = (sessionId: string) => `${keyPrefix(stack.queuePrefix)}:ops:session:${createHash('sha256').update(sessionId).digest('base64url')}`;
      const redis = connectRedis(stack.env);
      try {
        const stored = JSON.parse((await redis.get(keyOf(id)))!) as Record<string, unknown>;
        await redis.set(keyOf(id), JSON.stringify({ ...stored, role: 'operator' }), 'PX', 60_000);
        const page = await browser.get('/ops/sources');
        expect(page.text).toContain(`${CONSOLE_VIEWER.name} (viewer)`);
        expect((await browser.post('/ops/sources/preview', { source: 'x', payload: '{}' })).status).toBe(403);

        await redis.set(keyOf(id), JSON.stringify({ ...stored, name: 'removed-user', role: 'operator' }), 'PX', 60_000);
        expect((await browser.get('/ops/sources')).headers.get('location')).toBe('/ops/login');
        expect(await redis.exists(keyOf(id))).toBe(0);
      } finally {
        redis.disconnect();
      }
    });

    it('OPS_USERNAME / OPS_PASSWORD signs in as an operator', async () => {
      const browser = await signedIn({ name: OPS.username, password: OPS.password });
      expect((await browser.get('/ops/sources')).text).toContain(`${OPS.username} (operator)`);
    });

    it('refuses a wrong password with the form again (401), and blocks the address after too many (429), shared with basic auth', async () => {
      const browser = client();
      const wrong = await browser.signIn(CONSOLE_VIEWER.name, 'not-the-password');
      expect(wrong.status).toBe(401);
      expect(wrong.text).toContain('The name or password is wrong.');
      expect(wrong.text).not.toContain('not-the-password');
      for (let i = 1; i < OPS_LOGIN_FAILURES; i++) expect((await browser.post('/ops/login', { name: 'nobody', password: `guess-${i}` })).status).toBe(401);
      const blocked = await browser.post('/ops/login', { name: CONSOLE_VIEWER.name, password: 'one-more-guess' });
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(blocked.text).toMatch(/Too many wrong ops credentials/);
      // The right password does not get through the block, nor basic auth from the same address.
      expect((await browser.post('/ops/login', { name: CONSOLE_VIEWER.name, password: CONSOLE_VIEWER.password })).status).toBe(429);
      const basic = await fetch(`${stack.url}/v1/ops/delivery`, { headers: { authorization: OPS_AUTH, 'x-forwarded-for': browser.address } });
      expect(basic.status).toBe(429);
    });

    it('signs out: the session is deleted and its cookie is worth nothing', async () => {
      const browser = await signedIn(CONSOLE_OPERATOR);
      const id = browser.cookies.get('ops_session')!;
      const out = await browser.post('/ops/logout');
      expect(out.status).toBe(303);
      expect(out.headers.get('location')).toBe('/ops/login');
      const replay = client();
      replay.cookies.set('ops_session', id);
      expect((await replay.get('/ops/sources')).status).toBe(303);
    });
  });

  describe('CSRF', () => {
    it('refuses a post without a token, or with another session’s token, with a 403 page naming the CSRF token', async () => {
      const viewer = await signedIn(CONSOLE_VIEWER);
      const other = await signedIn(CONSOLE_VIEWER);
      const missing = await viewer.post('/ops/logout', { _csrf: null });
      expect(missing.status).toBe(403);
      expect(missing.text).toContain('CSRF token is missing or wrong');
      const foreign = await viewer.post('/ops/logout', { _csrf: other.csrf });
      expect(foreign.status).toBe(403);
      const headerFromOther = await viewer.post('/ops/logout', { _csrf: null }, { 'x-csrf-token': other.csrf });
      expect(headerFromOther.status).toBe(403);
      // Still signed in: none of those posts did anything.
      expect((await viewer.get('/ops/sources')).status).toBe(200);
      // The htmx way: the token in the x-csrf-token header.
      expect((await viewer.post('/ops/logout', { _csrf: null }, { 'x-csrf-token': viewer.csrf })).status).toBe(303);
    });

    it('refuses the login form without its token', async () => {
      const browser = client();
      await browser.get('/ops/login');
      const answer = await browser.post('/ops/login', { name: CONSOLE_VIEWER.name, password: CONSOLE_VIEWER.password, _csrf: null });
      expect(answer.status).toBe(403);
      expect(answer.text).toContain('CSRF token');
      expect(answer.headers.getSetCookie().some((line) => line.startsWith('ops_session='))).toBe(false);
    });

    it('refuses a cross-site post even with a valid token (Sec-Fetch-Site / Origin)', async () => {
      const operator = await signedIn(CONSOLE_OPERATOR);
      const answer = await operator.post('/ops/logout', {}, { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' });
      expect(answer.status).toBe(403);
      expect((await operator.get('/ops/sources')).status).toBe(200);
    });
  });

  describe('CSP and assets', () => {
    it('answers every console page with the strict CSP, and no page has inline script or style', async () => {
      expect(OPS_CONSOLE_CSP).not.toMatch(/unsafe-inline|unsafe-eval/);
      const operator = await signedIn(CONSOLE_OPERATOR);
      for (const path of ['/ops/login', '/ops/sources', '/ops/connections', '/ops/leads?status=nonsense', '/ops/leads/no-such-lead']) {
        const page = await operator.get(path);
        expect([path, page.headers.get('content-security-policy')]).toEqual([path, OPS_CONSOLE_CSP]);
        expect(page.headers.get('content-type')).toMatch(/^text\/html/);
        expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
        expect(page.text).not.toMatch(/\sstyle=/);
        expect(page.text).not.toMatch(/\son[a-z]+=/);
        expect(page.text).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
      }
      // bull-board keeps its own policy and basic auth.
      const board = await fetch(`${stack.url}/ops/queues`, { headers: { authorization: OPS_AUTH, 'x-forwarded-for': operator.address } });
      expect(board.status).toBe(200);
      expect(board.headers.get('content-security-policy')).not.toBe(OPS_CONSOLE_CSP);
    });

    it('serves htmx, uPlot and its own files locally, cached for a year under versioned URLs; anything else there is a 404', async () => {
      const browser = client();
      const login = await browser.get('/ops/login');
      const urls = [...login.text.matchAll(/(?:src|href)="(\/ops\/assets\/[^"]+)"/g)].map((match) => match[1]);
      expect(urls.map((url) => url.split('/').pop()).sort()).toEqual(['console.css', 'console.js', 'htmx.min.js', 'uPlot.iife.min.js', 'uPlot.min.css']);
      for (const url of urls) {
        const asset = await fetch(`${stack.url}${url}`);
        expect([url, asset.status, asset.headers.get('cache-control')]).toEqual([url, 200, 'public, max-age=31536000, immutable']);
        expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(100);
      }
      for (const path of ['/ops/assets/000000000000/console.js', '/ops/assets/x/..%2f..%2fpackage.json', '/ops/assets/%2e%2e/%2e%2e/package.json']) {
        const answer = await fetch(`${stack.url}${path}`);
        expect([path, answer.status]).toEqual([path, 404]);
      }
    });
  });

  describe('roles, enforced by the server', () => {
    it('refuses a viewer every action and the personal data with a 403 naming the operator role, whatever the page shows', async () => {
      const viewer = await signedIn(CONSOLE_VIEWER);
      const actions: Array<[string, string, Record<string, string>]> = [
        ['POST', '/ops/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10/retry', {}],
        ['POST', '/ops/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10/personal-data', {}],
        ['POST', '/ops/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10/erase', {}],
        ['GET', '/ops/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10/erase', {}],
        ['POST', '/ops/failed/preview', { reason: 'anything' }],
        ['POST', '/ops/failed/retry', { reason: 'anything' }],
        ['POST', '/ops/sources/preview', { source: 'test-crm', payload: '{}' }],
        ['GET', '/ops/connections/connect', {}],
        ['POST', '/ops/connections/some-connection/disconnect', {}],
      ];
      for (const [method, path, fields] of actions) {
        const answer = method === 'GET' ? await viewer.get(path) : await viewer.post(path, fields);
        expect([method, path, answer.status]).toEqual([method, path, 403]);
        expect(answer.text).toMatch(/operator/);
      }
      const sources = await viewer.get('/ops/sources');
      expect(sources.text).not.toContain('Mapping preview');
    });

    it('lets an operator preview a mapping, naming a bad payload field', async () => {
      const operator = await signedIn(CONSOLE_OPERATOR);
      const bad = await operator.post('/ops/sources/preview', { source: 'test-crm', payload: '{not json' });
      expect(bad.status).toBe(400);
      expect(bad.text).toContain('Form field &quot;payload&quot; is not valid JSON.');
      const missing = await operator.post('/ops/sources/preview', { source: 'test-crm' });
      expect(missing.status).toBe(400);
      expect(missing.text).toContain('Form field &quot;payload&quot; is required.');
    });
  });

  describe('pages of leads', () => {
    it('lists leads newest first, 25 a page, the next page through its cursor (htmx: rows only); a forged cursor is a 400 naming it', async () => {
      const source = 'other-crm';
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        const response = await fetch(`${stack.url}/v1/leads`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': OTHER_SOURCE_KEY },
          body: JSON.stringify(lead()),
        });
        expect(response.status).toBe(202);
        ids.push(((await response.json()) as { id: string }).id);
      }
      const viewer = await signedIn(CONSOLE_VIEWER);
      const first = await viewer.get(`/ops/leads?source=${source}&status=queued`);
      expect(first.status).toBe(200);
      const shown = (text: string) => [...text.matchAll(/<a href="\/ops\/leads\/([^"]+)">/g)].map((match) => match[1]);
      expect(shown(first.text)).toEqual(ids.slice(5).reverse());
      const older = /hx-get="(\/ops\/leads\?[^"]+)"/.exec(first.text)![1].replaceAll('&amp;', '&');
      expect(new URL(older, stack.url).searchParams.get('source')).toBe(source);
      const next = await viewer.get(older, { 'hx-request': 'true' });
      expect(next.status).toBe(200);
      expect(next.text).not.toContain('<html');
      expect(shown(next.text)).toEqual(ids.slice(0, 5).reverse());
      expect(next.text).not.toContain('Older leads');
      const forged = await viewer.get(`/ops/leads?source=${source}&cursor=${encodeURIComponent('1700000000000:not-a-lead')}`);
      expect(forged.status).toBe(400);
      expect(forged.text).toContain('Query parameter &quot;cursor&quot;');
      const audit = await viewer.get('/ops/audit?cursor=99999999999999-0x');
      expect(audit.status).toBe(400);
      expect(audit.text).toContain('Query parameter &quot;cursor&quot;');
    });
  });

  describe('hostile input', () => {
    it('answers bad search parameters with a 400 naming the field, never a 500', async () => {
      const viewer = await signedIn(CONSOLE_VIEWER);
      const cases: Array<[string, string]> = [
        ['/ops/leads?status=nonsense', 'status'],
        ['/ops/leads?status=failed&status=queued', 'status'],
        [`/ops/leads?external_ref=${'x'.repeat(5000)}`, 'external_ref'],
        ['/ops/leads?id=%00%2e%2e%2f', 'id'],
        ['/ops/leads?source=a%20b', 'source'],
        ['/ops/leads?from=yesterday', 'from'],
        ['/ops/leads?from=2026-13-45T99:99', 'from'],
        ['/ops/leads?from=2026-11-30T10:00&to=2026-11-29T10:00', 'to'],
        ['/ops/leads?cursor=%3Cscript%3E', 'cursor'],
        [`/ops/leads?cursor=${'A'.repeat(2000)}`, 'cursor'],
        ['/ops/audit?lead_id=%3Cb%3E', 'lead_id'],
        ['/ops/audit?cursor=**', 'cursor'],
        ['/ops?window=1y', 'window'],
      ];
      for (const [path, field] of cases) {
        const answer = await viewer.get(path);
        expect([path, answer.status]).toEqual([path, 400]);
        expect(answer.text).toContain(`Query parameter &quot;${field}&quot;`);
      }
      // As htmx asks it (search-as-you-type): rows with the message, swapped in.
      const htmx = await viewer.get('/ops/leads?status=nonsense', { 'hx-request': 'true', 'hx-target': 'lead-rows' });
      expect(htmx.status).toBe(400);
      expect(htmx.text).toMatch(/^\s*<tr>/);
      expect(htmx.text).toContain('status');
      // Nothing echoes markup back unescaped.
      const echoed = await viewer.get('/ops/leads?external_ref=%3Cimg%20src%3Dx%3E&status=bad');
      expect(echoed.text).not.toContain('<img src=x>');
    });

    it('answers an unknown or malformed lead id with a 404 page, and an unknown page with a 404', async () => {
      const viewer = await signedIn(CONSOLE_VIEWER);
      for (const path of ['/ops/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10', '/ops/leads/%2e%2e%2f%2e%2e%2fetc', `/ops/leads/${'a'.repeat(90)}`, '/ops/nothing-here']) {
        const answer = await viewer.get(path);
        expect([path, answer.status]).toEqual([path, 404]);
        expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
      }
    });

    it('answers a huge query string or form without a crash: 4xx', async () => {
      const viewer = await signedIn(CONSOLE_VIEWER);
      const huge = await viewer.get(`/ops/leads?source=${'a'.repeat(60_000)}`);
      expect(huge.status).toBeGreaterThanOrEqual(400);
      expect(huge.status).toBeLessThan(500);
      const form = await viewer.post('/ops/login', { name: 'x'.repeat(300_000), password: 'y' });
      expect(form.status).toBe(413);
      expect((await viewer.get('/ops/sources')).status).toBe(200);
    });
  });
});
