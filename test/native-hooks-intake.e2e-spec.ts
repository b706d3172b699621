import { Queue } from 'bullmq';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataKeyringConfig, DeliverLeadJobData, openEvent } from '@app/leads';
import { keyPrefix, LEADS_QUEUE } from '@app/queue';
import { connectRedis } from './support/redis-keys';
import { INTAKE_KEY, OPS_AUTH, Stack, TEST_DATA_KEY } from './support/stack';

/**
 * The intake side of native sources, through the real intake (no worker: nothing is mapped or
 * delivered here): each platform's own request authenticated its way, split, and stored as
 * sealed native lead jobs; refusals store nothing; redeliveries replay; the ops routes.
 * Payloads follow the platforms' public documentation, as noted at each.
 */

const SECRETS = {
  zoho: 'zoho-token-0123456789abcdef',
  typeform: 'typeform-secret-0123456789',
  facebookApp: 'facebook-app-secret-0123456789',
  facebookVerify: 'facebook-verify-token-0123',
  facebookPage: 'facebook-page-token-0123456789',
  pipedriveUser: 'pipedrive-hook',
  pipedrivePassword: 'pipedrive-password-0123456789',
};

const SOURCES_YAML = `
sources:
  - name: zoho-main
    type: zoho
    token: \${E2E_ZOHO_TOKEN}
  - name: typeform-main
    type: typeform
    secret: \${E2E_TYPEFORM_SECRET}
    distribution_id: dist-typeform
  - name: facebook-main
    type: facebook
    app_secret: \${E2E_FACEBOOK_APP_SECRET}
    verify_token: \${E2E_FACEBOOK_VERIFY_TOKEN}
    page_access_token: \${E2E_FACEBOOK_PAGE_TOKEN}
  - name: pipedrive-main
    type: pipedrive
    basic_auth:
      username: ${SECRETS.pipedriveUser}
      password: \${E2E_PIPEDRIVE_PASSWORD}
`;

type Json = Record<string, any>;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Json;
}

async function send(url: string, init: RequestInit): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: Json = {};
  try {
    body = JSON.parse(text) as Json;
  } catch {
    body = {};
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** Typeform's `Typeform-Signature`: `sha256=` + base64 HMAC-SHA256 of the raw body (typeform.com/developers/webhooks/secure-your-webhooks). */
const typeformSignature = (body: string, secret = SECRETS.typeform) => `sha256=${createHmac('sha256', secret).update(body).digest('base64')}`;
/** Facebook's `X-Hub-Signature-256`: `sha256=` + hex HMAC-SHA256 (app secret) of the raw body (developers.facebook.com/docs/graph-api/webhooks/getting-started). */
const facebookSignature = (body: string, secret = SECRETS.facebookApp) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

/** A `form_response` as Typeform's webhook reference shows it (trimmed to the fields leads use). */
function typeformResponse(eventId = `01H${randomUUID().replace(/-/g, '').slice(0, 20).toUpperCase()}`): Json {
  return {
    event_id: eventId,
    event_type: 'form_response',
    form_response: {
      form_id: 'lT4Z3j',
      token: 'a3a12ec67a1365927098a606107fac15',
      submitted_at: '2026-11-20T10:00:00Z',
      landed_at: '2026-11-20T09:58:00Z',
      hidden: {},
      definition: {
        id: 'lT4Z3j',
        title: 'Car insurance quote',
        fields: [
          { id: 'Q1', ref: 'first_name', type: 'short_text', title: 'First name' },
          { id: 'Q2', ref: 'last_name', type: 'short_text', title: 'Last name' },
          { id: 'Q3', ref: 'email', type: 'email', title: 'E-mail' },
        ],
      },
      answers: [
        { type: 'text', text: 'Foo', field: { id: 'Q1', type: 'short_text', ref: 'first_name' } },
        { type: 'text', text: 'Bar', field: { id: 'Q2', type: 'short_text', ref: 'last_name' } },
        { type: 'email', email: 'foo.bar@example.com', field: { id: 'Q3', type: 'email', ref: 'email' } },
      ],
    },
  };
}

/** A Lead Ads change notification (developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving, "Webhooks"). */
function leadgenChange(leadgenId: string): Json {
  return { field: 'leadgen', value: { ad_id: '444444444', form_id: '555555555', leadgen_id: leadgenId, created_time: 1763632800, page_id: '123456789', adgroup_id: '444444444' } };
}

/** A Pipedrive webhooks v2 person creation (pipedrive.readme.io/docs/guide-for-webhooks-v2). */
function pipedrivePerson(id = Math.floor(Math.random() * 1e9)): Json {
  return {
    meta: { action: 'create', entity: 'person', entity_id: String(id), id: randomUUID(), attempt: 1, company_id: '1234', change_source: 'app', timestamp: '2026-11-20T10:00:00.000Z', version: '2.0' },
    data: { id, name: 'Foo Bar', first_name: 'Foo', last_name: 'Bar', emails: [{ label: 'work', value: 'foo.bar@example.com', primary: true }], phones: [] },
    previous: null,
  };
}

describe('native hooks: the intake stores each platform\'s own webhook', () => {
  let stack: Stack;
  let queue: Queue<DeliverLeadJobData>;
  let redis: ReturnType<typeof connectRedis>;
  let dir: string;
  const keyring = dataKeyringConfig({ DATA_ENCRYPTION_KEY: TEST_DATA_KEY });

  const hook = (source: string, init: RequestInit, query = '') => send(`${stack.url}/v1/hooks/${source}${query}`, { method: 'POST', ...init });
  const jobCount = async () => Object.values(await queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'completed', 'failed')).reduce((a, b) => a + b, 0);
  const job = async (id: string) => (await queue.getJob(id))!.data;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'native-hooks-'));
    const file = join(dir, 'sources.yml');
    writeFileSync(file, SOURCES_YAML);
    stack = await new Stack({
      name: 'native-hooks',
      sandboxUrl: 'http://127.0.0.1:9',
      worker: false,
      env: {
        SOURCES_FILE: file,
        E2E_ZOHO_TOKEN: SECRETS.zoho,
        E2E_TYPEFORM_SECRET: SECRETS.typeform,
        E2E_FACEBOOK_APP_SECRET: SECRETS.facebookApp,
        E2E_FACEBOOK_VERIFY_TOKEN: SECRETS.facebookVerify,
        E2E_FACEBOOK_PAGE_TOKEN: SECRETS.facebookPage,
        E2E_PIPEDRIVE_PASSWORD: SECRETS.pipedrivePassword,
        // Unrelated graph/API calls never happen here (no worker), but the URLs must not be real ones.
        FACEBOOK_GRAPH_URL: 'http://127.0.0.1:9',
        PIPEDRIVE_API_URL: 'http://127.0.0.1:9',
      },
    }).start();
    redis = connectRedis(stack.env);
    queue = new Queue(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(stack.queuePrefix), skipMetasUpdate: true });
  });

  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('zoho (shared token, header or query)', () => {
    const form = (id: string) => new URLSearchParams({ id, First_Name: 'Foo', Last_Name: 'Bar', Email: 'foo.bar@example.com' }).toString();
    const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

    it('stores a form post with the token header, and one with the token as query parameter', async () => {
      const byHeader = await hook('zoho-main', { headers: { ...FORM, 'x-source-token': SECRETS.zoho }, body: form(`z-${randomUUID()}`) });
      expect(byHeader.status).toBe(200);
      expect(byHeader.body).toMatchObject({ source: 'zoho-main', accepted: 1, replayed: 0 });
      const stored = await job(byHeader.body.leads[0].id);
      expect(stored).toMatchObject({ source: 'zoho-main', sealed_lead: null, native: { type: 'zoho', event_id: byHeader.body.leads[0].event_id } });
      expect(openEvent(keyring, stored)).toBeTruthy();

      const byQuery = await hook('zoho-main', { headers: FORM, body: form(`z-${randomUUID()}`) }, `?token=${SECRETS.zoho}`);
      expect(byQuery.status).toBe(200);
      expect(byQuery.body.accepted).toBe(1);
    });

    it('refuses a wrong or missing token (401 naming it), storing nothing', async () => {
      const before = await jobCount();
      const wrong = await hook('zoho-main', { headers: { ...FORM, 'x-source-token': 'not-the-token-0123456789' }, body: form('z-wrong') });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(wrong.text).not.toContain(SECRETS.zoho);
      const none = await hook('zoho-main', { headers: FORM, body: form('z-none') });
      expect(none.status).toBe(401);
      expect(JSON.stringify(none.body.errors ?? none.body.detail)).toMatch(/X-Source-Token|token/);
      expect(await jobCount()).toBe(before);
    });

    it('refuses a content type no platform sends (415) and an unknown source (404)', async () => {
      const text = await hook('zoho-main', { headers: { 'content-type': 'text/plain', 'x-source-token': SECRETS.zoho }, body: 'hello' });
      expect(text.status).toBe(415);
      expect(text.body.detail).toContain('application/x-www-form-urlencoded');
      const unknown = await hook('no-such-source', { headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(unknown.status).toBe(404);
      expect(unknown.body.detail).toContain('no-such-source');
    });
  });

  describe('typeform (signature over the raw body)', () => {
    const post = (body: string, signature = typeformSignature(body)) =>
      hook('typeform-main', { headers: { 'content-type': 'application/json', 'typeform-signature': signature }, body });

    it('stores a signed form_response: the job carries the event, sealed, to its source\'s distribution', async () => {
      const payload = typeformResponse();
      const answer = await post(JSON.stringify(payload));
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ source: 'typeform-main', accepted: 1, replayed: 0, ignored: 0 });
      const [lead] = answer.body.leads as Json[];
      expect(lead).toEqual({ event_id: payload.event_id, id: expect.any(String), status: 'accepted', location: `/v1/leads/${lead.id}` });
      const stored = await job(lead.id);
      expect(stored).toMatchObject({ lead_id: lead.id, source: 'typeform-main', distribution_id: 'dist-typeform', sealed_lead: null, native: { type: 'typeform', event_id: payload.event_id } });
      // Sealed at rest: the stored job shows no answer in clear.
      expect(JSON.stringify(stored)).not.toContain('foo.bar@example.com');
      expect(openEvent(keyring, stored)).toEqual(payload);
    });

    it('replays a redelivery (same event id, new attempt counters) with one job', async () => {
      const payload = typeformResponse();
      const first = await post(JSON.stringify(payload));
      const before = await jobCount();
      const again = await post(JSON.stringify({ ...payload, form_response: { ...payload.form_response, landed_at: '2026-11-20T09:59:00Z' } }));
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ accepted: 0, replayed: 1, leads: [{ event_id: payload.event_id, id: first.body.leads[0].id, status: 'replayed' }] });
      expect(await jobCount()).toBe(before);
    });

    it('refuses a tampered body and a wrong secret (401 naming Typeform-Signature), storing nothing', async () => {
      const before = await jobCount();
      const body = JSON.stringify(typeformResponse());
      const tampered = await post(body.replace('"Foo"', '"Eve"'), typeformSignature(body));
      expect(tampered.status).toBe(401);
      expect(JSON.stringify(tampered.body)).toMatch(/Typeform-Signature/i);
      const wrongSecret = await post(body, typeformSignature(body, 'another-secret-0123456789'));
      expect(wrongSecret.status).toBe(401);
      expect(wrongSecret.text).not.toContain(SECRETS.typeform);
      expect(await jobCount()).toBe(before);
    });

    it('refuses a payload that is not a form_response (400 naming the field)', async () => {
      const body = JSON.stringify({ event_id: 'x', event_type: 'form_response' });
      const answer = await post(body);
      expect(answer.status).toBe(400);
      expect(answer.body.errors?.length).toBeGreaterThan(0);
    });
  });

  describe('facebook (GET handshake, X-Hub-Signature-256)', () => {
    const handshake = (query: Record<string, string>) => send(`${stack.url}/v1/hooks/facebook-main?${new URLSearchParams(query)}`, { method: 'GET' });
    const post = (body: string, signature = facebookSignature(body)) =>
      hook('facebook-main', { headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body });

    it('answers the verification handshake: the challenge as text/plain; 403 on a wrong token; 400 naming a missing parameter', async () => {
      const ok = await handshake({ 'hub.mode': 'subscribe', 'hub.verify_token': SECRETS.facebookVerify, 'hub.challenge': '1158201444' });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(ok.text).toBe('1158201444');
      const wrong = await handshake({ 'hub.mode': 'subscribe', 'hub.verify_token': 'guess', 'hub.challenge': '1' });
      expect(wrong.status).toBe(403);
      expect(wrong.text).not.toContain(SECRETS.facebookVerify);
      const missing = await handshake({ 'hub.mode': 'subscribe', 'hub.verify_token': SECRETS.facebookVerify });
      expect(missing.status).toBe(400);
      expect(missing.body.errors).toEqual([{ field: 'hub.challenge', message: expect.any(String) }]);
      // Other types take POST only.
      expect((await send(`${stack.url}/v1/hooks/typeform-main`, { method: 'GET' })).status).toBe(405);
    });

    it('splits entry[].changes[] into one lead per leadgen change, ignoring other fields', async () => {
      const [a, b] = [String(Date.now()), String(Date.now() + 1)];
      const payload = {
        object: 'page',
        entry: [
          { id: '123456789', time: 1763632800, changes: [leadgenChange(a), { field: 'feed', value: { item: 'status' } }] },
          { id: '123456789', time: 1763632801, changes: [leadgenChange(b)] },
        ],
      };
      const answer = await post(JSON.stringify(payload));
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ source: 'facebook-main', accepted: 2, replayed: 0, ignored: 1 });
      expect((answer.body.leads as Json[]).map((lead) => lead.event_id).sort()).toEqual([a, b].sort());
      const stored = await job(answer.body.leads[0].id);
      expect(stored.native).toMatchObject({ type: 'facebook', event_id: answer.body.leads[0].event_id });
      expect(openEvent(keyring, stored)).toBeTruthy();

      // Facebook redelivers for 36 h: the same leadgen ids replay.
      const again = await post(JSON.stringify(payload));
      expect(again.body).toMatchObject({ accepted: 0, replayed: 2 });
    });

    it('refuses a wrong signature (401 naming X-Hub-Signature-256), storing nothing', async () => {
      const before = await jobCount();
      const body = JSON.stringify({ object: 'page', entry: [{ id: '1', time: 1, changes: [leadgenChange(String(Date.now()))] }] });
      const answer = await post(body, facebookSignature(body, 'wrong-app-secret-0123456789'));
      expect(answer.status).toBe(401);
      expect(JSON.stringify(answer.body)).toMatch(/X-Hub-Signature-256/i);
      expect(await jobCount()).toBe(before);
    });
  });

  describe('pipedrive (basic auth)', () => {
    const post = (body: Json, authorization = basic(SECRETS.pipedriveUser, SECRETS.pipedrivePassword)) =>
      hook('pipedrive-main', { headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify(body) });

    it('stores a person creation, and replays its redelivery', async () => {
      const payload = pipedrivePerson();
      const answer = await post(payload);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ source: 'pipedrive-main', accepted: 1 });
      const stored = await job(answer.body.leads[0].id);
      expect(stored.native).toMatchObject({ type: 'pipedrive' });
      expect(openEvent(keyring, stored)).toEqual(payload);
      const again = await post({ ...payload, meta: { ...payload.meta, attempt: 2 } });
      expect(again.body).toMatchObject({ accepted: 0, replayed: 1, leads: [{ id: answer.body.leads[0].id, status: 'replayed' }] });
    });

    it('refuses wrong basic auth (401 naming Authorization), storing nothing', async () => {
      const before = await jobCount();
      const answer = await post(pipedrivePerson(), basic(SECRETS.pipedriveUser, 'wrong-password-0123456789'));
      expect(answer.status).toBe(401);
      expect(JSON.stringify(answer.body)).toMatch(/Authorization/i);
      expect(await jobCount()).toBe(before);
    });

    it('answers a payload it cannot take 200, with the problem listed (a 4xx would get the webhook banned)', async () => {
      const answer = await post({ meta: { action: 'create' } });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ accepted: 0, ignored: 1 });
      expect(answer.body.ignored_events[0].reason).toEqual(expect.any(String));
    });
  });

  describe('INTAKE_API_KEYS sources keep working, on POST /v1/leads and on their hook', () => {
    it('a json source without a mapping answers its hook exactly as POST /v1/leads', async () => {
      const lead = { prospect: { first_name: 'Foo', last_name: 'Bar', external_ref: { external_ref: `hook-${randomUUID()}` } } };
      const first = await hook('test-crm', { headers: { 'content-type': 'application/json', 'x-api-key': INTAKE_KEY }, body: JSON.stringify(lead) });
      expect(first.status).toBe(202);
      expect(first.headers.get('location')).toBe(`/v1/leads/${first.body.id}`);
      const again = await stack.postLead(lead);
      expect(again.status).toBe(200);
      expect(((await again.json()) as Json).id).toBe(first.body.id);
    });
  });

  describe('ops: GET /v1/sources and the preview', () => {
    it('needs the ops credentials', async () => {
      expect((await send(`${stack.url}/v1/sources`, { method: 'GET' })).status).toBe(401);
      const preview = await send(`${stack.url}/v1/sources/typeform-main/preview`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(typeformResponse()),
      });
      expect(preview.status).toBe(401);
    });

    it('lists every source with its hook URL, auth mode (no secret), mapping and lead counts', async () => {
      const answer = await send(`${stack.url}/v1/sources`, { method: 'GET', headers: { authorization: OPS_AUTH } });
      expect(answer.status).toBe(200);
      const byName = new Map((answer.body.sources as Json[]).map((source) => [source.name, source]));
      expect([...byName.keys()].sort()).toEqual(['facebook-main', 'other-crm', 'pipedrive-main', 'test-crm', 'typeform-main', 'zoho-main']);
      expect(byName.get('typeform-main')).toMatchObject({
        type: 'typeform',
        declared_in: 'SOURCES_FILE',
        url: `${stack.url}/v1/hooks/typeform-main`,
        distribution_id: 'dist-typeform',
        mapping: 'default',
        auth: expect.any(String),
      });
      expect(byName.get('typeform-main')!.leads.accepted).toBeGreaterThanOrEqual(1);
      expect(byName.get('test-crm')).toMatchObject({ type: 'json', declared_in: 'INTAKE_API_KEYS' });
      for (const secret of [...Object.values(SECRETS), INTAKE_KEY]) expect(answer.text).not.toContain(secret);
    });

    it('previews a payload: the leads it would make, enqueuing nothing; 404 for an unknown source', async () => {
      const before = await jobCount();
      const payload = typeformResponse();
      const answer = await send(`${stack.url}/v1/sources/typeform-main/preview`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: OPS_AUTH },
        body: JSON.stringify(payload),
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ source: 'typeform-main', type: 'typeform', leads: [{ event_id: payload.event_id, problems: [] }] });
      expect(answer.body.leads[0].lead.prospect).toMatchObject({ first_name: 'Foo', last_name: 'Bar' });
      expect(await jobCount()).toBe(before);
      const unknown = await send(`${stack.url}/v1/sources/no-such-source/preview`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: OPS_AUTH },
        body: '{}',
      });
      expect(unknown.status).toBe(404);
    });
  });
});
