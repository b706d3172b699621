import Redis from 'ioredis';
import { keyPrefix } from '@app/queue';
import { REDIS_URL } from './support/redis-keys';
import {
  distributionId,
  INTAKE_KEY,
  lead,
  OPS,
  OPS_AUTH,
  OTHER_SOURCE_KEY,
  refOf,
  SandboxControl,
  Stack,
  StartedSandbox,
  startIntakeWithoutRedis,
  startStackWithSandbox,
  stopStackWithSandbox,
} from './support/stack';

type Json = Record<string, any>;
interface Answer {
  status: number;
  headers: globalThis.Headers;
  body: Json;
  text: string;
}

const BOARD = '/ops/queues';
const WRONG_AUTH = `Basic ${Buffer.from(`${OPS.username}:not-the-password`).toString('base64')}`;
const EVIL_ORIGIN = 'https://evil.example';

/**
 * The ops surface as an attacker and as ops people use it: the dashboard's buttons, the ops
 * routes, the status route with ops credentials, cross-site requests and password guessing.
 * The intake trusts the loopback proxy, so each test speaks from its own X-Forwarded-For
 * address and the sign-in limit of one test never leaks into another.
 */
describe('the ops surface: one replay rule, ops read access, no external requests, no cross-site or guessed actions', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;

  beforeAll(async () => ({ sandbox, control, stack } = await startStackWithSandbox('ops-security', { INTAKE_TRUST_PROXY: 'loopback' })));
  afterAll(() => stopStackWithSandbox({ sandbox, stack }));

  let nextAddress = 10;
  const newAddress = () => `198.51.100.${nextAddress++}`;

  async function call(path: string, init: RequestInit & { address?: string } = {}): Promise<Answer> {
    const { address = '198.51.100.1', ...rest } = init;
    const response = await fetch(`${stack.url}${path}`, {
      ...rest,
      headers: { authorization: OPS_AUTH, 'x-forwarded-for': address, ...(rest.headers as Record<string, string>) },
    });
    const text = await response.text();
    let body: Json = {};
    try {
      body = JSON.parse(text) as Json;
    } catch {
      body = {};
    }
    return { status: response.status, headers: response.headers, body, text };
  }

  /** A lead that WeGroup refused for good (a 404), so it is `failed`. */
  async function failedLead(did = distributionId()): Promise<{ id: string; did: string }> {
    await control.fault({ status: 404, count: 1, distribution_id: did });
    const { id } = (await (await stack.postLead(lead({ distribution_id: did }))).json()) as { id: string };
    await stack.waitForStatus(id, ['failed']);
    return { id, did };
  }

  async function deliveredLead(): Promise<{ id: string; did: string }> {
    const did = distributionId();
    const { id } = (await (await stack.postLead(lead({ distribution_id: did }))).json()) as { id: string };
    await stack.waitForStatus(id, ['delivered']);
    return { id, did };
  }

  const kinds = (status: Json) => status.attempts_log.map((entry: Json) => (entry.kind === 'replayed' ? `replayed by ${entry.by}` : entry.outcome));
  const deliveries = async (did: string) => (await control.requests(did)).filter((request) => request.status === 201).length;

  describe('1. the dashboard retries with our replay rule', () => {
    it("its retry button re-queues a failed lead as POST /v1/leads/{id}/retry does: fresh schedule, a 'replayed' entry", async () => {
      const viaDashboard = await failedLead();
      const viaApi = await failedLead();
      expect((await call(`${BOARD}/api/queues/leads/${viaDashboard.id}/retry`, { method: 'PUT' })).status).toBe(204);
      expect((await call(`/v1/leads/${viaApi.id}/retry`, { method: 'POST' })).status).toBe(202);
      const [dashboard, api] = await Promise.all([stack.waitForStatus(viaDashboard.id, ['delivered']), stack.waitForStatus(viaApi.id, ['delivered'])]);
      expect(kinds(dashboard)).toEqual(['permanent', 'replayed by ops (dashboard)', 'delivered']);
      expect(kinds(api)).toEqual(['permanent', 'replayed by ops', 'delivered']);
      // A fresh schedule: the delivery is attempt 1 of the replay, as through the API.
      expect(dashboard.attempts).toBe(1);
      expect(api.attempts).toBe(1);
      // Not failed any more: the same button is now a 409, and WeGroup got the lead once.
      const again = await call(`${BOARD}/api/queues/leads/${viaDashboard.id}/retry`, { method: 'PUT' });
      expect(again.status).toBe(409);
      expect(again.body.detail).toMatch(/Only failed leads can be retried/);
      expect(await deliveries(viaDashboard.did)).toBe(1);
    });

    it("its 'retry all' replays every failed lead the same way, and refuses delivered ones", async () => {
      const did = distributionId();
      await control.fault({ status: 404, count: 2, distribution_id: did });
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) ids.push(((await (await stack.postLead(lead({ distribution_id: did }))).json()) as { id: string }).id);
      for (const id of ids) await stack.waitForStatus(id, ['failed']);
      const all = await call(`${BOARD}/api/queues/leads/retry/failed`, { method: 'PUT' });
      expect(all.status).toBe(200);
      expect(all.body.retried).toBeGreaterThanOrEqual(2);
      expect(all.body.skipped).toBe(0);
      for (const id of ids) {
        const status = await stack.waitForStatus(id, ['delivered']);
        expect(kinds(status)).toEqual(['permanent', 'replayed by ops (dashboard)', 'delivered']);
        expect(status.attempts).toBe(1);
      }
      expect((await call(`${BOARD}/api/queues/leads/retry/completed`, { method: 'PUT' })).status).toBe(409);
      await stack.waitUntilDrained();
      expect(await deliveries(did)).toBe(2);
    });

    it("refuses every other action that would resend, lose or reschedule a lead, and says where to act instead", async () => {
      const delivered = await deliveredLead();
      const failed = await failedLead();
      const actions: Array<[string, string, unknown?]> = [
        ['PUT', `${BOARD}/api/queues/leads/${failed.id}/clean`],
        ['PUT', `${BOARD}/api/queues/leads/${delivered.id}/clean`],
        ['PUT', `${BOARD}/api/queues/leads/${failed.id}/promote`],
        ['PATCH', `${BOARD}/api/queues/leads/${delivered.id}/update-data`, { data: { source: 'x' } }],
        ['PATCH', `${BOARD}/api/queues/leads/${failed.id}/delay`, { delay: 1 }],
        ['PATCH', `${BOARD}/api/queues/leads/${failed.id}/priority`, { priority: 1 }],
        ['POST', `${BOARD}/api/queues/leads/add`, { name: 'deliver-lead', data: {} }],
        ['PUT', `${BOARD}/api/queues/leads/clean/completed`],
        ['PUT', `${BOARD}/api/queues/leads/clean/failed`],
        ['PUT', `${BOARD}/api/queues/leads/promote`],
        ['PUT', `${BOARD}/api/queues/leads/empty`],
        ['PUT', `${BOARD}/api/queues/leads/obliterate`, {}],
        ['PUT', `${BOARD}/api/queues/leads/pause`],
        ['PUT', `${BOARD}/api/queues/pause`],
        ['PUT', `${BOARD}/api/queues/leads/rate-limit/release`],
        ['PUT', `${BOARD}/api/queues/leads/concurrency`, { concurrency: 1 }],
      ];
      for (const [method, path, body] of actions) {
        const answer = await call(path, {
          method,
          ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
        });
        expect([method, path, answer.status]).toEqual([method, path, 403]);
        expect(answer.body.detail).toMatch(/DELETE \/v1\/leads\/\{id\}/);
      }
      expect((await stack.lead(delivered.id)).status).toBe('delivered');
      expect((await stack.lead(failed.id)).status).toBe('failed');
      expect((await call('/v1/ops/delivery')).body.counts).toMatchObject({ waiting: 0 });
      await stack.waitUntilDrained();
      expect(await deliveries(delivered.did)).toBe(1);
      expect(await deliveries(failed.did)).toBe(0);
    });
  });

  describe('2. ops read a lead with their credentials', () => {
    it('GET /v1/leads/{id} answers the ops credentials with the same view as the source; a missing or wrong one stays a 401', async () => {
      const { id } = await failedLead();
      const asSource = await stack.lead(id);
      const asOps = await call(`/v1/leads/${id}`);
      expect(asOps.status).toBe(200);
      expect({ http_status: asOps.status, ...asOps.body }).toEqual(asSource);
      expect(asOps.body.last_error).toMatch(/404/);

      const missing = await fetch(`${stack.url}/v1/leads/${id}`);
      expect(missing.status).toBe(401);
      expect(((await missing.json()) as Json).detail).toMatch(/X-API-Key/);
      const wrong = await call(`/v1/leads/${id}`, { headers: { authorization: WRONG_AUTH }, address: newAddress() });
      expect(wrong.status).toBe(401);
      expect(wrong.body.detail).toMatch(/Authorization/);
      // The key still decides when there is one: another source sees nothing.
      expect((await stack.lead(id, OTHER_SOURCE_KEY)).http_status).toBe(404);
      expect((await call(`/v1/leads/${id}`, { headers: { 'x-api-key': OTHER_SOURCE_KEY } })).status).toBe(404);
      expect((await call(`/v1/leads/${id}`, { headers: { 'x-api-key': INTAKE_KEY } })).status).toBe(200);
      // Ops see every source's leads, so their 404 names no source.
      const unknown = await call('/v1/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10');
      expect({ status: unknown.status, detail: unknown.body.detail }).toEqual({ status: 404, detail: 'No lead with id "6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10".' });
    });
  });

  describe('3. the dashboard makes no request to another origin', () => {
    it('its page and stylesheets name no other origin, and its CSP allows none', async () => {
      const page = await call(BOARD);
      expect(page.status).toBe(200);
      expect(page.text).toMatch(/<div id="root">/);
      expect(page.text).not.toMatch(/fonts\.(googleapis|gstatic)\.com/);
      const references = [...page.text.matchAll(/<(?:link|script|img)\b[^>]*\b(?:href|src)="([^"]+)"/g)].map((m) => m[1]);
      expect(references.length).toBeGreaterThan(2);
      const base = `${stack.url}${BOARD}/`;
      for (const reference of references) {
        const url = new URL(reference, base);
        expect([reference, url.origin]).toEqual([reference, stack.url]);
        const asset = await call(url.pathname);
        expect([reference, asset.status]).toEqual([reference, 200]);
        if (url.pathname.endsWith('.css')) {
          expect(asset.text).not.toMatch(/@import|url\(\s*["']?(https?:)?\/\//i);
        }
        if (url.pathname.endsWith('.js')) expect(asset.text).not.toMatch(/fonts\.(googleapis|gstatic)\.com/);
      }
      const csp = page.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/default-src 'self'/);
      for (const directive of csp.split(';').map((d) => d.trim())) {
        expect(directive).not.toMatch(/https?:|\*|\/\//);
      }
      expect(csp).toMatch(/font-src 'self'/);
      expect(csp).toMatch(/style-src 'self'/);
    });
  });

  describe('4. no spelling of a path retries a delivered lead', () => {
    it('percent-encoded, double-encoded, re-cased, slashed and ;-suffixed retries never reach WeGroup again', async () => {
      const { id, did } = await deliveredLead();
      const encodedId = [...id].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('');
      const spellings = [
        `${BOARD}/api/queues/leads/${id}/retr%79`,
        `${BOARD}/api/queues/leads/${id}/%72%65%74%72%79`,
        `${BOARD}/api/queues/leads/${id}/retr%2579`,
        `${BOARD}/api/queues/leads/${encodedId}/retry`,
        `${BOARD}/api/queues/le%61ds/${id}/retry`,
        `${BOARD}/api/queues/leads%2F${id}/retry`,
        `${BOARD}/api/queues/leads/${id}%2Fretry`,
        `${BOARD}/api/queues/leads/${id}/RETRY`,
        `${BOARD}/api/queues/leads/${id}/retry/`,
        `${BOARD}/api/queues/leads/${id}/retry;x=1`,
        `${BOARD}/api/queues/leads/${id};x=1/retry`,
        `/ops/%71ueues/api/queues/leads/${id}/retry`,
        `${BOARD}/api/queues/leads/retry/%63ompleted`,
        `${BOARD}/api/queues/leads/retry/%2563ompleted`,
        `${BOARD}/api/queues/leads/retry/COMPLETED`,
        `${BOARD}/api/queues/leads/retry/completed/`,
        `${BOARD}/api/queues/leads/retry/completed;x=1`,
        `${BOARD}/api/queues/leads/retry/%63ompleted%2F`,
      ];
      for (const path of spellings) {
        const answer = await call(path, { method: 'PUT' });
        expect([path, answer.status >= 400 && answer.status < 500]).toEqual([path, true]);
      }
      await stack.waitUntilDrained();
      expect(await deliveries(did)).toBe(1);
      const after = await stack.lead(id);
      expect(after).toMatchObject({ status: 'delivered', attempts: 1 });
      expect(kinds(after)).toEqual(['delivered']);
      expect((await control.requests(did)).map(refOf)).toHaveLength(1);
    });
  });

  describe('5. ops actions take JSON only, and never from another site', () => {
    it('an empty form post to the bulk retry is a 415 naming Content-Type, and re-queues nothing', async () => {
      const { id } = await failedLead();
      const form = await call('/v1/ops/leads/retry', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      expect(form.status).toBe(415);
      expect(form.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(form.body.detail).toMatch(/Content-Type must be application\/json/);
      expect(form.body).not.toHaveProperty('retried');
      const bare = await call('/v1/ops/leads/retry', { method: 'POST' });
      expect(bare.status).toBe(415);
      expect(bare.body.detail).toMatch(/Content-Type.*missing/);
      const text = await call(`/v1/leads/${id}/retry`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '' });
      expect(text.status).toBe(415);
      const board = await call(`${BOARD}/api/queues/leads/${id}/retry`, { method: 'PUT', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      expect(board.status).toBe(415);
      expect((await stack.lead(id)).status).toBe('failed');
    });

    it('refuses a cross-site Origin or Sec-Fetch-Site with a 403 naming the header, on every mutating ops route', async () => {
      const { id } = await failedLead();
      const json = { 'content-type': 'application/json' };
      const routes: Array<[string, string, Record<string, string>, string?]> = [
        ['POST', '/v1/ops/leads/retry', json, '{}'],
        ['POST', `/v1/leads/${id}/retry`, {}],
        ['DELETE', `/v1/leads/${id}`, {}],
        ['DELETE', '/v1/connections/00000000-0000-4000-8000-000000000000', {}],
        ['PUT', `${BOARD}/api/queues/leads/${id}/retry`, {}],
        ['PUT', `${BOARD}/api/queues/leads/retry/failed`, {}],
      ];
      for (const [method, path, headers, body] of routes) {
        const byOrigin = await call(path, { method, headers: { ...headers, origin: EVIL_ORIGIN }, body });
        expect([method, path, byOrigin.status]).toEqual([method, path, 403]);
        expect(byOrigin.body.detail).toMatch(/Origin/);
        const byFetchSite = await call(path, { method, headers: { ...headers, 'sec-fetch-site': 'cross-site' }, body });
        expect([method, path, byFetchSite.status]).toEqual([method, path, 403]);
        expect(byFetchSite.body.detail).toMatch(/Sec-Fetch-Site/);
        const nullOrigin = await call(path, { method, headers: { ...headers, origin: 'null' }, body });
        expect([method, path, nullOrigin.status]).toEqual([method, path, 403]);
      }
      expect((await stack.lead(id)).status).toBe('failed');
      // Same origin (Swagger UI at /docs sends both headers) and curl (neither) still act.
      const sameOrigin = await call('/v1/ops/leads/retry', {
        method: 'POST',
        headers: { ...json, origin: stack.url, 'sec-fetch-site': 'same-origin' },
        body: JSON.stringify({ failed_after: new Date(Date.now() - 60_000).toISOString() }),
      });
      expect(sameOrigin.status).toBe(200);
      expect(sameOrigin.body.matched).toBeGreaterThanOrEqual(1);
      await stack.waitForStatus(id, ['delivered']);
      const failed = await failedLead();
      const curl = await call(`/v1/leads/${failed.id}/retry`, { method: 'POST' });
      expect(curl.status).toBe(202);
      await stack.waitForStatus(failed.id, ['delivered']);
      // Reading stays open to a same-site page (Swagger UI), and GETs are never refused for their Origin.
      expect((await call(`/v1/leads/${id}`, { headers: { origin: EVIL_ORIGIN } })).status).toBe(200);
    });
  });

  describe('6. ops credentials cannot be guessed without limit', () => {
    it('answers 429 + Retry-After after 10 wrong passwords from one address, whatever is tried next; other addresses are not affected', async () => {
      const attacker = newAddress();
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        statuses.push((await call('/v1/ops/delivery', { headers: { authorization: WRONG_AUTH }, address: attacker })).status);
      }
      expect(statuses).toEqual([...Array(10).fill(401), 429, 429]);
      const blocked = await call('/v1/ops/delivery', { headers: { authorization: WRONG_AUTH }, address: attacker });
      expect(blocked.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(blocked.body.detail).toMatch(/at most 10 per 15 min/);
      const retryAfter = Number(blocked.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(15 * 60);
      // The right password does not tell itself apart during the block, on any ops surface.
      expect((await call('/v1/ops/delivery', { address: attacker })).status).toBe(429);
      expect((await call(BOARD, { address: attacker })).status).toBe(429);
      expect((await call('/metrics', { address: attacker })).status).toBe(429);
      expect((await call('/v1/leads/00000000-0000-4000-8000-000000000000', { address: attacker })).status).toBe(429);
      // Ops elsewhere keep working.
      expect((await call('/v1/ops/delivery', { address: newAddress() })).status).toBe(200);

      const redis = new Redis(REDIS_URL);
      try {
        const keys = await redis.keys(`${keyPrefix(stack.queuePrefix)}:throttle:ops-login:*`);
        expect(keys).toContain(`${keyPrefix(stack.queuePrefix)}:throttle:ops-login:ip:${attacker}:blocked`);
      } finally {
        redis.disconnect();
      }
    });

    it('counts only wrong credentials: successes and requests without credentials spend nothing', async () => {
      const address = newAddress();
      for (let i = 0; i < 15; i++) {
        expect((await call('/v1/ops/delivery', { address })).status).toBe(200);
        const anonymous = await fetch(`${stack.url}/v1/ops/delivery`, { headers: { 'x-forwarded-for': address } });
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic/);
        await anonymous.text();
      }
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await call(`${BOARD}/api/queues`, { headers: { authorization: WRONG_AUTH }, address })).status);
      expect(statuses).toEqual(Array(10).fill(401));
      expect((await call(`${BOARD}/api/queues`, { headers: { authorization: WRONG_AUTH }, address })).status).toBe(429);
    });
  });
});

describe('ops sign-in without Redis', () => {
  it('fails closed: a 503 + Retry-After naming Redis, since failed sign-ins cannot be counted', async () => {
    const intake = await startIntakeWithoutRedis('ops-no-redis');
    try {
      const response = await fetch(`${intake.url}/v1/ops/delivery`, { headers: { authorization: WRONG_AUTH } });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(((await response.json()) as Json).detail).toMatch(/Redis/);
      expect((await fetch(`${intake.url}${BOARD}`, { headers: { authorization: OPS_AUTH } })).status).toBe(503);
    } finally {
      await intake.close();
    }
  });
});
