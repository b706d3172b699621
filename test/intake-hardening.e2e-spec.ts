import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fc from 'fast-check';
import Redis from 'ioredis';
import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { keyPrefix } from '@app/queue';
import { createIntakeApp } from '../apps/intake-api/src/intake.app';
import { readIntakeAppConfig } from '../apps/intake-api/src/intake.config';
import { REDIS_URL } from './support/redis-keys';
import {
  distributionId,
  INTAKE_KEY,
  lead,
  OPS_AUTH,
  OTHER_SOURCE_KEY,
  SandboxControl,
  Stack,
  StartedSandbox,
  startIntakeWithoutRedis,
  startStackWithSandbox,
  stopStackWithSandbox,
  TEST_LOGGER,
} from './support/stack';
import { waitFor } from './support/wait';

const SIGNED_KEY = 'signed-intake-key-0123456789';
const OLD_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const NEW_SECRET = `whsec_${randomBytes(32).toString('base64')}`;

type Headers = Record<string, string>;
interface Answer {
  status: number;
  headers: globalThis.Headers;
  body: Record<string, any>;
}

/** Standard Webhooks headers for `body`, signed with `secret` (at `at`, under `id`). */
function signed(secret: string, body: string | Buffer, { id = `msg_${randomUUID()}`, at = new Date() } = {}): Headers {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}

async function send(url: string, method: string, body: string | Buffer | undefined, headers: Headers): Promise<Answer> {
  const response = await fetch(url, { method, headers, body });
  const text = await response.text();
  let parsed: Record<string, any> = {};
  try {
    parsed = JSON.parse(text) as Record<string, any>;
  } catch {
    parsed = { text };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

const JSON_TYPE = { 'content-type': 'application/json' };

/** The status of a GET, with the body read to the end (an unread body holds its connection open). */
async function statusOf(url: string | URL, headers: Headers = {}): Promise<number> {
  const response = await fetch(url, { headers });
  await response.arrayBuffer();
  return response.status;
}

describe('intake hardening: signed webhooks, throttling, input limits, security headers', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;

  const post = (body: string | Buffer, headers: Headers) => send(`${stack.url}/v1/leads`, 'POST', body, { ...JSON_TYPE, ...headers });
  const postSigned = (body: string, secret = NEW_SECRET, options?: Parameters<typeof signed>[2]) =>
    post(body, { 'x-api-key': SIGNED_KEY, ...signed(secret, body, options) });
  // A GET signs its method and target in place of a body.
  const getSigned = (id: string) => send(`${stack.url}/v1/leads/${id}`, 'GET', undefined, { 'x-api-key': SIGNED_KEY, ...signed(NEW_SECRET, `GET /v1/leads/${id}`) });

  beforeAll(async () => {
    ({ sandbox, control, stack } = await startStackWithSandbox('hardening', {
      INTAKE_API_KEYS: `test-crm:${INTAKE_KEY},other-crm:${OTHER_SOURCE_KEY},signed-crm:${SIGNED_KEY}`,
      // Two secrets: the old one still accepted while the CRM rolls over to the new one.
      INTAKE_WEBHOOK_SECRETS: `signed-crm:${OLD_SECRET},signed-crm:${NEW_SECRET}`,
      // Out of the way here; the throttling tests run a stack of their own.
      INTAKE_RATE_LIMIT: '1000000',
    }));
  });
  afterAll(() => stopStackWithSandbox({ sandbox, stack }));

  describe('Standard Webhooks signatures', () => {
    it('accepts a valid signature, and the lead is delivered', async () => {
      const did = distributionId();
      const body = JSON.stringify(lead({ distribution_id: did }));
      const accepted = await postSigned(body);
      expect(accepted.status).toBe(202);
      const delivered = await waitFor('the signed lead to be delivered', async () => {
        const answer = await getSigned(accepted.body.id);
        return answer.body.status === 'delivered' ? answer : undefined;
      });
      expect(delivered.body).toMatchObject({ source: 'signed-crm', distribution_id: did });
      expect(await control.requests(did)).toHaveLength(1);
    });

    it('accepts both secrets while rotating, and a header carrying several signatures', async () => {
      const body = () => JSON.stringify(lead());
      expect((await postSigned(body(), OLD_SECRET)).status).toBe(202);
      expect((await postSigned(body(), NEW_SECRET)).status).toBe(202);
      const payload = body();
      const id = `msg_${randomUUID()}`;
      const at = new Date();
      const good = signed(NEW_SECRET, payload, { id, at });
      const stranger = signed(`whsec_${randomBytes(32).toString('base64')}`, payload, { id, at });
      const both = { ...good, 'webhook-signature': `${stranger['webhook-signature']} ${good['webhook-signature']}` };
      expect((await post(payload, { 'x-api-key': SIGNED_KEY, ...both })).status).toBe(202);
    });

    it('refuses a tampered body, naming webhook-signature', async () => {
      const original = JSON.stringify(lead());
      const tampered = original.replace('"Foo"', '"Eve"');
      expect(tampered).not.toBe(original);
      const answer = await post(tampered, { 'x-api-key': SIGNED_KEY, ...signed(NEW_SECRET, original) });
      expect(answer.status).toBe(401);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(answer.body.detail).toMatch(/webhook-signature/);
    });

    it('refuses a signature made with another secret', async () => {
      const body = JSON.stringify(lead());
      const answer = await postSigned(body, `whsec_${randomBytes(32).toString('base64')}`);
      expect(answer.status).toBe(401);
      expect(answer.body.detail).toMatch(/webhook-signature header matches no signing secret of source "signed-crm"/);
    });

    it('refuses stale and future timestamps, naming webhook-timestamp', async () => {
      const body = JSON.stringify(lead());
      const stale = await postSigned(body, NEW_SECRET, { at: new Date(Date.now() - 6 * 60_000) });
      expect(stale.status).toBe(401);
      expect(stale.body.detail).toMatch(/webhook-timestamp header is 3\d\d s old/);
      const future = await postSigned(body, NEW_SECRET, { at: new Date(Date.now() + 6 * 60_000) });
      expect(future.status).toBe(401);
      expect(future.body.detail).toMatch(/webhook-timestamp header is 3\d\d s in the future/);
      // Within the tolerance both ways is fine.
      expect((await postSigned(JSON.stringify(lead()), NEW_SECRET, { at: new Date(Date.now() - 4 * 60_000) })).status).toBe(202);
      expect((await postSigned(JSON.stringify(lead()), NEW_SECRET, { at: new Date(Date.now() + 4 * 60_000) })).status).toBe(202);
    });

    it('refuses a signing source that sends its key alone (a leaked key is not enough), naming the headers', async () => {
      const body = JSON.stringify(lead());
      const unsigned = await post(body, { 'x-api-key': SIGNED_KEY });
      expect(unsigned.status).toBe(401);
      expect(unsigned.body.detail).toMatch(/Missing webhook-id, webhook-timestamp, webhook-signature headers/);
      const headers = signed(NEW_SECRET, body);
      const noId = await post(body, { 'x-api-key': SIGNED_KEY, ...headers, 'webhook-id': '' });
      expect(noId.body.detail).toMatch(/Missing webhook-id header/);
      const badTimestamp = await post(body, { 'x-api-key': SIGNED_KEY, ...headers, 'webhook-timestamp': 'yesterday' });
      expect({ status: badTimestamp.status, detail: badTimestamp.body.detail }).toEqual({
        status: 401,
        detail: expect.stringMatching(/webhook-timestamp header must be a Unix time/),
      });
      // A GET is signed too (over its method and target).
      const { id } = (await postSigned(JSON.stringify(lead()))).body;
      expect((await send(`${stack.url}/v1/leads/${id}`, 'GET', undefined, { 'x-api-key': SIGNED_KEY })).status).toBe(401);
      expect((await getSigned(id)).status).toBe(200);
      // Sources without a secret are unaffected.
      expect((await post(JSON.stringify(lead()), { 'x-api-key': INTAKE_KEY })).status).toBe(202);
      // The key still decides who is calling: a valid signature does not replace it.
      expect((await post(body, { 'x-api-key': 'unknown-key-0123456789abc', ...signed(NEW_SECRET, body) })).status).toBe(401);
    });

    it('treats a webhook-id seen before as an idempotent replay: same lead back, nothing enqueued', async () => {
      const did = distributionId();
      const body = JSON.stringify(lead({ distribution_id: did }));
      const id = `msg_${randomUUID()}`;
      const firstHeaders = { 'x-api-key': SIGNED_KEY, ...signed(NEW_SECRET, body, { id }) };
      const first = await post(body, firstHeaders);
      expect(first.status).toBe(202);

      // The CRM redelivers the message (new timestamp, new signature) …
      const redelivery = await postSigned(body, NEW_SECRET, { id });
      // … or someone replays the captured request as is, within the tolerance.
      const replay = await post(body, firstHeaders);
      for (const answer of [redelivery, replay]) {
        expect(answer.status).toBe(200);
        expect(answer.headers.get('idempotent-replayed')).toBe('true');
        expect(answer.body.id).toBe(first.body.id);
      }
      // The same webhook-id for another message is a conflict, said in its own words.
      const other = await postSigned(JSON.stringify(lead({ distribution_id: did })), NEW_SECRET, { id });
      expect(other.status).toBe(409);
      expect(other.body.detail).toMatch(/webhook-id/);

      await waitFor('the lead to be delivered', async () => (await getSigned(first.body.id)).body.status === 'delivered');
      await stack.waitUntilDrained();
      expect(await control.requests(did)).toHaveLength(1);
    });
  });

  describe('input limits', () => {
    const problems = (answer: Answer) => (answer.body.errors as Array<{ field: string; message: string }>) ?? [];
    const postLead = (body: unknown) => post(JSON.stringify(body), { 'x-api-key': INTAKE_KEY });

    it('takes https URLs only, without credentials, naming the field', async () => {
      const http = await postLead(lead({ backref: 'http://crm.example.com/prospects/1' }, { callbacks: ['https://ok.example.com/cb', 'http://crm.example.com/cb'] }));
      expect(http.status).toBe(400);
      expect(problems(http)).toEqual([
        { field: 'backref', message: 'backref must be an https URL (http only with ALLOW_HTTP_URLS=true)' },
        { field: 'prospect.callbacks', message: 'prospect.callbacks.1 must be an https URL (http only with ALLOW_HTTP_URLS=true)' },
      ]);
      const credentials = await postLead(lead({ backref: 'https://user:secret@crm.example.com/p/1' }, { callbacks: ['https://token@crm.example.com/cb'] }));
      expect(credentials.status).toBe(400);
      expect(problems(credentials)).toEqual([
        { field: 'backref', message: 'backref must not contain credentials (user:password@)' },
        { field: 'prospect.callbacks', message: 'prospect.callbacks.0 must not contain credentials (user:password@)' },
      ]);
      expect((await postLead(lead({}, { callbacks: [`https://crm.example.com/${'a'.repeat(2100)}`] }))).status).toBe(400);
      expect((await postLead(lead())).status).toBe(202);
    });

    it('refuses a body nested deeper than 10 levels, naming where', async () => {
      // body(1) › prospect(2) › risk_objects(3) › cars(4) › car(5) › options(6) › n(7) … › n(10) is fine.
      const nest = (levels: number): unknown => (levels === 0 ? 'x' : { n: nest(levels - 1) });
      expect((await postLead(lead({}, { risk_objects: { cars: [{ options: nest(5) }] } }))).status).toBe(202);
      const deep = await postLead(lead({}, { risk_objects: { cars: [{ options: nest(6) }] } }));
      expect(deep.status).toBe(400);
      expect(problems(deep)).toEqual([
        { field: 'prospect.risk_objects.cars.0.options.n.n.n.n.n', message: expect.stringMatching(/nested deeper than 10 levels/) },
      ]);
      // Thousands of levels: a 400, not a stack overflow.
      const abyss = `{"prospect":{"first_name":"a","last_name":"b","x":${'['.repeat(50_000)}${']'.repeat(50_000)}}}`;
      const answer = await post(abyss, { 'x-api-key': INTAKE_KEY });
      expect(answer.status).toBe(400);
      expect(problems(answer)[0].field).toBe('prospect.x.0.0.0.0.0.0.0.0');
    });

    it('bounds risk_objects, field counts and string lengths', async () => {
      const many = await postLead(lead({}, { risk_objects: { cars: Array.from({ length: 51 }, () => ({ vin: 'X' })) } }));
      expect(problems(many)).toEqual([{ field: 'prospect.risk_objects', message: 'prospect.risk_objects.cars has 51 items; at most 50 are accepted' }]);
      const notArray = await postLead(lead({}, { risk_objects: { cars: { vin: 'X' } } }));
      expect(problems(notArray)).toEqual([{ field: 'prospect.risk_objects', message: 'prospect.risk_objects.cars must be an array of risk objects' }]);
      const fields = await postLead(lead({}, { extra: Object.fromEntries(Array.from({ length: 5_001 }, (_, i) => [`f${i}`, 1])) }));
      expect(problems(fields)).toEqual([{ field: '(body)', message: 'the body has more than 5000 fields and array items' }]);
      const long = await postLead(lead({}, { notes: 'x'.repeat(10_001) }));
      expect(problems(long)).toEqual([{ field: 'prospect.notes', message: 'prospect.notes is longer than 10000 characters' }]);
      const name = await postLead(lead({}, { first_name: 'x'.repeat(201) }));
      expect(problems(name).map((p) => p.field)).toEqual(['prospect.first_name']);
    });

    it('refuses a body that is not UTF-8', async () => {
      const bytes = Buffer.concat([Buffer.from('{"prospect":{"first_name":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('","last_name":"b"}}')]);
      const answer = await post(bytes, { 'x-api-key': INTAKE_KEY });
      expect(answer.status).toBe(400);
      expect(answer.body.detail).toMatch(/not valid UTF-8/);
    });

    it('accepts http URLs when ALLOW_HTTP_URLS=true, still without credentials', async () => {
      const local = await new Stack({ name: 'hardening-http', sandboxUrl: sandbox.url, worker: false, env: { ALLOW_HTTP_URLS: 'true' } }).start();
      try {
        const body = lead({ backref: 'http://localhost:8080/prospects/1' }, { callbacks: ['http://localhost:8080/cb'] });
        expect((await local.postLead(body)).status).toBe(202);
        const credentials = await local.postLead(lead({ backref: 'http://me:pw@localhost:8080/p' }));
        expect(credentials.status).toBe(400);
        expect(((await credentials.json()) as { errors: unknown[] }).errors).toEqual([
          { field: 'backref', message: 'backref must not contain credentials (user:password@)' },
        ]);
      } finally {
        await local.close();
      }
    });
  });

  describe('security headers', () => {
    const expectHelmet = (headers: globalThis.Headers) => {
      expect(headers.get('content-security-policy')).toMatch(/script-src 'self'/);
      expect(headers.get('x-content-type-options')).toBe('nosniff');
      expect(headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(headers.get('referrer-policy')).toBe('no-referrer');
    };

    it('sets them on the lead routes, accepted and refused alike', async () => {
      const accepted = await post(JSON.stringify(lead()), { 'x-api-key': INTAKE_KEY });
      expect(accepted.status).toBe(202);
      expectHelmet(accepted.headers);
      const refused = await post(JSON.stringify(lead()), {});
      expect(refused.status).toBe(401);
      expectHelmet(refused.headers);
      expectHelmet((await send(`${stack.url}/health/live`, 'GET', undefined, {})).headers);
    });

    it('keeps Swagger UI and the dashboard working under the CSP', async () => {
      const docs = await fetch(`${stack.url}/docs`);
      expect(docs.status).toBe(200);
      expectHelmet(docs.headers);
      const html = await docs.text();
      expect(html).toMatch(/<div id="swagger-ui">/);
      // Its scripts are files of this origin (the CSP allows no inline script).
      const scripts = [...html.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]);
      expect(scripts.length).toBeGreaterThan(0);
      for (const src of scripts) expect(await statusOf(new URL(src, `${stack.url}/docs`))).toBe(200);
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>\s*\S/);

      const board = await fetch(`${stack.url}/ops/queues`, { headers: { authorization: OPS_AUTH } });
      expect(board.status).toBe(200);
      expectHelmet(board.headers);
      const page = await board.text();
      expect(page).toMatch(/<div id="root">/);
      // Only bull-board's JSON config is inline, and JSON is data, not script.
      const inline = [...page.matchAll(/<script(?![^>]*\bsrc=)([^>]*)>/g)].map((m) => m[1]);
      for (const attributes of inline) expect(attributes).toMatch(/type="application\/json"/);
      expect(await statusOf(`${stack.url}/ops/queues/api/queues`, { authorization: OPS_AUTH })).toBe(200);
    });
  });

  describe('throttling per source', () => {
    let limited: Stack;
    let twin: NestFastifyApplication | undefined;

    beforeAll(async () => {
      limited = await new Stack({
        name: 'hardening-throttle',
        sandboxUrl: sandbox.url,
        worker: false,
        env: { INTAKE_RATE_LIMIT: '3', INTAKE_RATE_LIMIT_WINDOW_MS: '60000' },
      }).start();
    });

    afterAll(async () => {
      await twin?.close();
      await limited?.close();
    });

    const get = (url: string, key?: string) =>
      send(`${url}/v1/leads/00000000-0000-4000-8000-000000000000`, 'GET', undefined, key ? { 'x-api-key': key } : {});

    it('answers 429 with Retry-After over the limit, per source, on every lead route and every instance', async () => {
      for (let i = 0; i < 3; i++) expect((await get(limited.url, INTAKE_KEY)).status).toBe(404);
      const over = await get(limited.url, INTAKE_KEY);
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(over.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(over.body).toMatchObject({ status: 429, detail: expect.stringMatching(/at most 3 requests per 60 s for source "test-crm"/) });
      // One budget for all lead routes of the source.
      const posted = await send(`${limited.url}/v1/leads`, 'POST', JSON.stringify(lead()), { ...JSON_TYPE, 'x-api-key': INTAKE_KEY });
      expect(posted.status).toBe(429);

      // Another source is not affected.
      expect((await get(limited.url, OTHER_SOURCE_KEY)).status).toBe(404);
      // The count lives in Redis: a second intake instance on the same prefix sees it.
      twin = await createIntakeApp(readIntakeAppConfig(limited.env), { logger: TEST_LOGGER });
      await twin.listen(0, '127.0.0.1');
      const twinUrl = (await twin.getUrl()).replace('[::1]', '127.0.0.1');
      expect((await get(twinUrl, INTAKE_KEY)).status).toBe(429);
      // Under the Cluster hash tag of the prefix.
      const redis = new Redis(REDIS_URL);
      try {
        const keys = await redis.keys(`${keyPrefix(limited.queuePrefix)}:throttle:*`);
        expect(keys.sort()).toEqual([
          `${keyPrefix(limited.queuePrefix)}:throttle:default:source:other-crm`,
          `${keyPrefix(limited.queuePrefix)}:throttle:default:source:test-crm:blocked`,
        ]);
      } finally {
        redis.disconnect();
      }
    });

    it('counts unauthenticated requests by address, and leaves health, docs and the dashboard alone', async () => {
      for (let i = 0; i < 3; i++) expect((await get(limited.url, 'wrong-key-0123456789abcdef')).status).toBe(401);
      const guessing = await get(limited.url, 'wrong-key-0123456789abcdef');
      expect(guessing.status).toBe(429);
      expect(guessing.body.detail).toMatch(/this address/);
      for (let i = 0; i < 5; i++) {
        expect(await statusOf(`${limited.url}/health/live`)).toBe(200);
        expect(await statusOf(`${limited.url}/docs-json`)).toBe(200);
        expect(await statusOf(`${limited.url}/ops/queues/api/queues`, { authorization: OPS_AUTH })).toBe(200);
      }
    });

    it('behind a proxy (INTAKE_TRUST_PROXY), counts by the address the proxy forwarded; otherwise ignores that header', async () => {
      const forwarded = (url: string, address: string) =>
        send(`${url}/v1/leads/00000000-0000-4000-8000-000000000000`, 'GET', undefined, {
          'x-api-key': 'wrong-key-0123456789abcdef',
          'x-forwarded-for': address,
        });
      // No proxy trusted: a new address in the header each time still counts against loopback's budget.
      const direct: number[] = [];
      for (let i = 0; i < 4; i++) direct.push((await forwarded(limited.url, `198.51.100.${i}`)).status);
      expect(direct[3]).toBe(429);

      const proxied = await createIntakeApp(readIntakeAppConfig({ ...limited.env, INTAKE_TRUST_PROXY: 'loopback' }), { logger: TEST_LOGGER });
      try {
        await proxied.listen(0, '127.0.0.1');
        const url = (await proxied.getUrl()).replace('[::1]', '127.0.0.1');
        for (let i = 0; i < 3; i++) expect((await forwarded(url, '203.0.113.9')).status).toBe(401);
        expect((await forwarded(url, '203.0.113.9')).status).toBe(429);
        // Another client behind the same proxy keeps its own budget.
        expect((await forwarded(url, '203.0.113.10')).status).toBe(401);
      } finally {
        await proxied.close();
      }
    });

    it('fails open when Redis is unreachable: the lead is refused with 503, never 429 or 500', async () => {
      const { url, close } = await startIntakeWithoutRedis('hardening-noredis', { INTAKE_RATE_LIMIT: '1' });
      try {
        for (let i = 0; i < 3; i++) {
          const answer = await send(`${url}/v1/leads`, 'POST', JSON.stringify(lead()), { ...JSON_TYPE, 'x-api-key': INTAKE_KEY });
          expect({ status: answer.status, retryAfter: answer.headers.get('retry-after') }).toEqual({ status: 503, retryAfter: '5' });
        }
      } finally {
        await close();
      }
    });
  });

  describe('fuzzing the running intake', () => {
    // Any byte a header value may carry (HTTP field-content: visible ASCII, space, tab, obs-text).
    const latin1 = fc.string({
      unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(0x09)).map((code) => String.fromCharCode(code)),
      maxLength: 300,
    });
    const longText = fc.integer({ min: 0, max: 300_000 }).map((n) => 'x'.repeat(n));
    const nested = fc
      .record({ depth: fc.integer({ min: 1, max: 20_000 }), kind: fc.constantFrom('array', 'object') })
      .map(({ depth, kind }) => (kind === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));
    const weird = fc.oneof(fc.anything(), fc.jsonValue(), longText, fc.array(fc.anything(), { maxLength: 60 }));
    const prospect = fc.record(
      {
        first_name: fc.oneof(fc.string(), weird),
        last_name: fc.oneof(fc.string(), weird),
        callbacks: fc.oneof(fc.array(fc.webUrl({ authoritySettings: { withUserInfo: true } }), { maxLength: 25 }), weird),
        external_ref: fc.oneof(fc.record({ external_ref: fc.string(), external_ref_company: fc.string() }, { requiredKeys: [] }), weird),
        risk_objects: fc.oneof(fc.dictionary(fc.string(), fc.array(fc.object(), { maxLength: 55 }), { maxKeys: 4 }), weird),
        email: fc.oneof(fc.emailAddress(), weird),
      },
      { requiredKeys: [] },
    );
    const leadLike = fc.record(
      {
        origin: fc.oneof(fc.string(), weird),
        backref: fc.oneof(fc.webUrl({ authoritySettings: { withUserInfo: true }, validSchemes: ['http', 'https', 'ftp'] }), weird),
        prospect: fc.oneof(prospect, weird),
        distribution_id: fc.oneof(fc.string(), weird),
        prospekt: weird,
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      { weight: 6, arbitrary: leadLike.map((value) => JSON.stringify(value) ?? '') },
      { weight: 2, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
      { weight: 2, arbitrary: nested.map((inner) => `{"prospect":{"first_name":"a","last_name":"b","x":${inner}}}`) },
      { weight: 1, arbitrary: nested },
      { weight: 1, arbitrary: longText.map((text) => JSON.stringify(lead({}, { notes: text }))) },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)) },
      {
        weight: 2,
        arbitrary: fc
          .uint8Array({ minLength: 1, maxLength: 64 })
          .map((bytes) => Buffer.concat([Buffer.from('{"prospect":{"first_name":"'), Buffer.from(bytes), Buffer.from('","last_name":"b"}}')])),
      },
      { weight: 1, arbitrary: fc.string({ maxLength: 500 }) },
      { weight: 1, arbitrary: fc.constantFrom('', '{', 'null', '[]', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '\u0000') },
    );
    const contentType = fc.oneof(
      { weight: 10, arbitrary: fc.constant('application/json') },
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          'application/json; charset=utf-8',
          'Application/JSON',
          'application/vnd.api+json',
          'application/merge-patch+json',
          'application/json; charset=latin1',
        ),
      },
      {
        weight: 2,
        arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/jsonx', ''),
      },
      { weight: 1, arbitrary: latin1 },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
    const apiKey = fc.oneof(
      { weight: 6, arbitrary: fc.constant(INTAKE_KEY) },
      { weight: 3, arbitrary: fc.constant(SIGNED_KEY) },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: latin1 },
    );
    const extraHeaders = fc.record(
      {
        'idempotency-key': latin1,
        'webhook-id': latin1,
        'webhook-timestamp': fc.oneof(latin1, fc.integer().map(String), fc.constant(String(Math.floor(Date.now() / 1000)))),
        'webhook-signature': fc.oneof(latin1, fc.base64String().map((s) => `v1,${s}`)),
        accept: latin1,
      },
      { requiredKeys: [] },
    );
    const target = fc.oneof(
      { weight: 8, arbitrary: fc.constant({ method: 'POST', path: '/v1/leads' }) },
      { weight: 2, arbitrary: latin1.map((id) => ({ method: 'GET', path: `/v1/leads/${encodeURIComponent(id)}` })) },
      { weight: 1, arbitrary: fc.constantFrom('PUT', 'PATCH', 'DELETE').map((method) => ({ method, path: '/v1/leads' })) },
      { weight: 1, arbitrary: fc.constant({ method: 'POST', path: '/v1/ops/leads/retry' }) },
    );
    const request = fc.record({ target, body, contentType, apiKey, extraHeaders, sign: fc.boolean() });

    it('answers every generated request with a 4xx (or a 2xx), never a 5xx, and stays healthy', async () => {
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(request, async ({ target: { method, path }, body: payload, contentType: type, apiKey: key, extraHeaders: extra, sign }) => {
          const headers: Headers = { ...extra };
          if (type !== undefined) headers['content-type'] = type;
          if (key !== undefined) headers['x-api-key'] = key;
          if (sign) Object.assign(headers, signed(NEW_SECRET, method === 'GET' ? `GET ${path}` : payload));
          if (path.startsWith('/v1/ops')) headers.authorization = OPS_AUTH;
          const hasBody = method !== 'GET';
          const response = await fetch(`${stack.url}${path}`, { method, headers, body: hasBody ? payload : undefined });
          const text = await response.text();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          if (response.status >= 500 || response.status < 200) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
          if (response.status >= 400 && /problem\+json/.test(response.headers.get('content-type') ?? '')) {
            expect((JSON.parse(text) as { status: number }).status).toBe(response.status);
          }
        }),
        { numRuns: 2_500 },
      );
      expect([...statuses.keys()].every((status) => status < 500)).toBe(true);
      // Many kinds of refusal were exercised, not one over and over.
      expect([...statuses.keys()].filter((status) => status >= 400).length).toBeGreaterThanOrEqual(5);

      expect(await statusOf(`${stack.url}/health/live`)).toBe(200);
      expect(await statusOf(`${stack.url}/health/ready`)).toBe(200);
      expect((await post(JSON.stringify(lead()), { 'x-api-key': INTAKE_KEY })).status).toBe(202);
    });
  });
});
