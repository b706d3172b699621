import { Validator } from '@seriousme/openapi-schema-validator';
import { LeadsQueue } from '@app/queue';
import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
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
} from './support/stack';
import { waitFor } from './support/wait';

const SIGNED_KEY = 'signed-batch-key-0123456789';
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

type Json = Record<string, any>;
interface Answer {
  status: number;
  headers: Headers;
  body: Json;
}

async function send(url: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch {
    parsed = { text };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

function signed(body: string, id = `msg_${randomUUID()}`): Record<string, string> {
  const at = new Date();
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(SECRET).sign(id, at, body) };
}

describe('POST /v1/leads/batch: many leads per request, each answered on its own', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;

  const postBatch = (body: unknown, headers: Record<string, string> = {}) =>
    send(`${stack.url}/v1/leads/batch`, typeof body === 'string' ? body : JSON.stringify(body), { 'x-api-key': INTAKE_KEY, ...headers });
  const jobCount = async () => (await stack.intake.get(LeadsQueue).getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'));
  const metric = async (name: string, labels: string) => {
    const text = await (await fetch(`${stack.url}/metrics`, { headers: { authorization: OPS_AUTH } })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  beforeAll(async () => {
    ({ sandbox, control, stack } = await startStackWithSandbox('batch', {
      INTAKE_API_KEYS: `test-crm:${INTAKE_KEY},other-crm:${OTHER_SOURCE_KEY},signed-crm:${SIGNED_KEY}`,
      INTAKE_WEBHOOK_SECRETS: `signed-crm:${SECRET}`,
    }));
  });
  afterAll(() => stopStackWithSandbox({ sandbox, stack }));

  it('answers 207 with one result per lead in order; the valid ones are delivered, the invalid ones name their fields', async () => {
    const did = distributionId();
    const leads = [
      lead({ distribution_id: did }),
      lead({ distribution_id: did }, { first_name: '' }),
      lead({ distribution_id: did }, { email: 'x@example.com' }),
      { prospect: { first_name: 'No', last_name: 'Ref', callbacks: ['http://insecure.example.com'] }, prospekt: 1 },
      'not a lead',
      lead({ distribution_id: did }),
    ];
    const acceptedBefore = await metric('wegroup_leads_intake_accepted_total', 'source="test-crm",replayed="false"');
    const answer = await postBatch({ leads });
    expect(answer.status).toBe(207);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.body).toMatchObject({ accepted: 3, replayed: 0, rejected: 3 });
    const results = answer.body.results as Json[];
    expect(results.map((r) => [r.index, r.status])).toEqual([
      [0, 202],
      [1, 400],
      [2, 202],
      [3, 400],
      [4, 400],
      [5, 202],
    ]);
    for (const index of [0, 2, 5]) {
      expect(results[index]).toEqual({ index, status: 202, id: expect.any(String), location: `/v1/leads/${results[index].id}` });
    }
    expect(results[1]).toEqual({
      index: 1,
      status: 400,
      detail: 'Invalid lead: 1 problem in leads[1].prospect.first_name.',
      errors: [{ field: 'leads[1].prospect.first_name', message: 'leads[1].prospect.first_name should not be empty' }],
    });
    expect(results[3].errors).toEqual([
      { field: 'leads[3].prospekt', message: 'leads[3].prospekt is not a known field' },
      { field: 'leads[3].prospect.callbacks', message: 'leads[3].prospect.callbacks.0 must be an https URL (http only with ALLOW_HTTP_URLS=true)' },
    ]);
    expect(results[4].errors).toEqual([{ field: 'leads[4]', message: 'must be a JSON object' }]);
    // No personal data echoed back.
    expect(JSON.stringify(answer.body)).not.toContain('x@example.com');

    for (const index of [0, 2, 5]) expect((await stack.waitForStatus(results[index].id, ['delivered', 'failed'])).status).toBe('delivered');
    const requests = await control.requests(did);
    expect(requests).toHaveLength(3);
    const { distribution_id: _routing, ...expected } = leads[2] as Json;
    expect(requests.map((r) => r.body)).toContainEqual(expected);
    // Metrics count leads, not requests.
    expect(await metric('wegroup_leads_intake_accepted_total', 'source="test-crm",replayed="false"')).toBe(acceptedBefore + 3);
  });

  it('reports a lead’s problems exactly as POST /v1/leads does, under leads[i]', async () => {
    const bad = { origen: 'typo', backref: 'not a url', prospect: { first_name: '', callbacks: ['ftp://x'], external_ref: {}, risk_objects: { cars: {} } } };
    const single = await send(`${stack.url}/v1/leads`, JSON.stringify(bad), { 'x-api-key': INTAKE_KEY });
    expect(single.status).toBe(400);
    const batch = await postBatch({ leads: [lead(), bad] });
    const item = batch.body.results[1] as Json;
    const unprefix = (text: string) => text.replaceAll('leads[1].', '');
    expect(item.errors.map((e: Json) => ({ field: unprefix(e.field), message: unprefix(e.message) }))).toEqual(single.body.errors);
    // The same depth limit as a single lead.
    const nest = (levels: number): unknown => (levels === 0 ? 'x' : { n: nest(levels - 1) });
    const deep = await postBatch({ leads: [lead({}, { risk_objects: { cars: [{ options: nest(5) }] } }), lead({}, { risk_objects: { cars: [{ options: nest(6) }] } })] });
    expect(deep.body.results.map((r: Json) => r.status)).toEqual([202, 400]);
    expect(deep.body.results[1].errors[0].field).toBe('leads[1].prospect.risk_objects.cars.0.options.n.n.n.n.n');
  });

  it('replays every lead of a retried batch (same Idempotency-Key): all 200, same ids, nothing enqueued', async () => {
    const did = distributionId();
    const leads = [lead({ distribution_id: did }), lead({ distribution_id: did }, { last_name: '' }), lead({ distribution_id: did })];
    const key = `batch-${randomUUID()}`;
    const first = await postBatch({ leads }, { 'idempotency-key': key });
    expect(first.body).toMatchObject({ accepted: 2, replayed: 0, rejected: 1 });
    const jobsBefore = await jobCount();

    const retried = await postBatch({ leads }, { 'idempotency-key': key });
    expect(retried.status).toBe(207);
    expect(retried.body).toMatchObject({ accepted: 0, replayed: 2, rejected: 1 });
    expect(retried.body.results.map((r: Json) => r.status)).toEqual([200, 400, 200]);
    expect(retried.body.results[0]).toEqual({ ...first.body.results[0], status: 200 });
    expect(retried.body.results[2].id).toBe(first.body.results[2].id);
    expect(await jobCount()).toBe(jobsBefore);

    // Another body at the same position under the same key is a conflict for that lead only.
    const changed = [leads[0], leads[1], lead({ distribution_id: did }), lead({ distribution_id: did })];
    const conflict = await postBatch({ leads: changed }, { 'idempotency-key': key });
    expect(conflict.body.results.map((r: Json) => r.status)).toEqual([200, 400, 409, 202]);
    expect(conflict.body.results[2].detail).toMatch(/Idempotency-Key was already used for lead .* with a different body/);

    await stack.waitUntilDrained();
    expect(await control.requests(did)).toHaveLength(3);
  });

  it('keeps a batch lead’s key apart from any single post’s key', async () => {
    const did = distributionId();
    const key = `apart-${randomUUID()}`;
    // A single post whose key looks like "<key>#0" is not the batch's lead 0.
    const single = await stack.postLead(lead({ distribution_id: did }), { 'idempotency-key': `${key}#0` });
    expect(single.status).toBe(202);
    const batch = await postBatch({ leads: [lead({ distribution_id: did })] }, { 'idempotency-key': key });
    expect(batch.body.results[0]).toMatchObject({ status: 202 });
    expect(batch.body.results[0].id).not.toBe(((await single.json()) as { id: string }).id);
  });

  it('without a key, each lead’s external_ref identifies a repeat, within a batch too', async () => {
    const did = distributionId();
    const ref = { external_ref: `crm-${did}`, external_ref_company: 'acme' };
    const one = lead({ distribution_id: did }, { external_ref: ref });
    const answer = await postBatch({ leads: [one, { ...one }, lead({ distribution_id: did }, { external_ref: ref, first_name: 'Other' })] });
    expect(answer.body.results.map((r: Json) => r.status)).toEqual([202, 200, 409]);
    expect(answer.body.results[1].id).toBe(answer.body.results[0].id);
    expect(answer.body.results[2].detail).toMatch(/prospect\.external_ref\.external_ref \(used as idempotency key\)/);
    // The single route sees the same key.
    const single = await send(`${stack.url}/v1/leads`, JSON.stringify(one), { 'x-api-key': INTAKE_KEY });
    expect({ status: single.status, id: single.body.id }).toEqual({ status: 200, id: answer.body.results[0].id });
  });

  it('refuses a bad envelope with a 400 naming leads', async () => {
    const problem = async (body: unknown) => {
      const answer = await postBatch(body);
      expect(answer.status).toBe(400);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      return answer.body.errors as Json[];
    };
    expect(await problem({ leads: Array.from({ length: 501 }, () => lead()) })).toEqual([
      { field: 'leads', message: 'leads holds 501 leads; at most 500 are accepted per request' },
    ]);
    expect(await problem({ leads: [] })).toEqual([{ field: 'leads', message: 'leads must hold at least 1 lead' }]);
    expect(await problem({})).toEqual([{ field: 'leads', message: 'leads is required' }]);
    expect(await problem({ leads: lead() })).toEqual([{ field: 'leads', message: 'leads must be an array of leads' }]);
    expect((await problem([lead()]))[0].field).toBe('leads');
    expect((await problem('null'))[0].field).toBe('leads');
    expect(await problem({ leads: [lead()], lead: 1 })).toEqual([{ field: 'lead', message: 'lead is not a known field' }]);
    expect((await postBatch('{"leads":[')).status).toBe(400);
  });

  it('takes 500 leads in one request (over the single route’s 256 KB), and refuses a body over its limit with a 413 naming leads', async () => {
    const leads = Array.from({ length: 500 }, () => lead({}, { notes: 'n'.repeat(600) }));
    const body = JSON.stringify({ leads });
    expect(body.length).toBeGreaterThan(256 * 1024);
    const big = await postBatch(body);
    expect(big.status).toBe(207);
    expect(big.body).toMatchObject({ accepted: 500, replayed: 0, rejected: 0 });
    expect(new Set(big.body.results.map((r: Json) => r.id)).size).toBe(500);

    const huge = await postBatch({ leads: [lead({}, { notes: 'x'.repeat(6 * 1024 * 1024) })] });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(huge.body).toMatchObject({ status: 413, detail: expect.stringMatching(/larger than 5 MB/) });
    expect(huge.body.errors).toEqual([{ field: 'leads', message: expect.stringMatching(/^leads is larger than 5 MB/) }]);
    // The single route keeps its own limit.
    const single = await send(`${stack.url}/v1/leads`, JSON.stringify(lead({}, { notes: 'x'.repeat(300 * 1024) })), { 'x-api-key': INTAKE_KEY });
    expect({ status: single.status, detail: single.body.detail }).toEqual({ status: 413, detail: 'The request body is larger than 256 KB.' });
  });

  it('needs an API key, and a signature from a signing source; a signed batch’s webhook-id is its idempotency key', async () => {
    const body = JSON.stringify({ leads: [lead(), lead()] });
    const anonymous = await send(`${stack.url}/v1/leads/batch`, body, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.detail).toMatch(/X-API-Key/);
    expect((await send(`${stack.url}/v1/leads/batch`, body, { 'x-api-key': 'wrong-key-0123456789abcdef' })).status).toBe(401);

    const unsigned = await send(`${stack.url}/v1/leads/batch`, body, { 'x-api-key': SIGNED_KEY });
    expect(unsigned.status).toBe(401);
    expect(unsigned.body.detail).toMatch(/Missing webhook-id, webhook-timestamp, webhook-signature headers/);
    const tampered = await send(`${stack.url}/v1/leads/batch`, body.replace('"Foo"', '"Eve"'), { 'x-api-key': SIGNED_KEY, ...signed(body) });
    expect(tampered.status).toBe(401);
    expect(tampered.body.detail).toMatch(/webhook-signature/);

    const id = `msg_${randomUUID()}`;
    const first = await send(`${stack.url}/v1/leads/batch`, body, { 'x-api-key': SIGNED_KEY, ...signed(body, id) });
    expect(first.status).toBe(207);
    expect(first.body).toMatchObject({ accepted: 2, replayed: 0, rejected: 0 });
    const redelivery = await send(`${stack.url}/v1/leads/batch`, body, { 'x-api-key': SIGNED_KEY, ...signed(body, id) });
    expect(redelivery.body).toMatchObject({ accepted: 0, replayed: 2, rejected: 0 });
    expect(redelivery.body.results.map((r: Json) => r.id)).toEqual(first.body.results.map((r: Json) => r.id));
  });

  it('refuses a malformed Idempotency-Key, naming the header', async () => {
    const answer = await postBatch({ leads: [lead()] }, { 'idempotency-key': 'k'.repeat(256) });
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toEqual([{ field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }]);
  });

  it('is documented in the OpenAPI document, which stays valid', async () => {
    const document = (await (await fetch(`${stack.url}/docs-json`)).json()) as Json;
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    const post = document.paths['/v1/leads/batch'].post;
    expect(Object.keys(post.responses).sort()).toEqual(['207', '400', '401', '413', '415', '429', '503']);
    expect(post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/CreateLeadBatchDto' });
    expect(document.components.schemas.CreateLeadBatchDto.properties.leads).toMatchObject({ type: 'array', minItems: 1, maxItems: 500 });
    expect(post.responses['207'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/LeadBatchResultDto' });
    expect(post.security).toEqual([{ 'api-key': [] }]);
  });

  describe('rate limit and Redis outages', () => {
    it('counts a batch as one request for the per-source limit', async () => {
      const limited = await new Stack({ name: 'batch-throttle', sandboxUrl: sandbox.url, worker: false, env: { INTAKE_RATE_LIMIT: '2' } }).start();
      try {
        const post = () => send(`${limited.url}/v1/leads/batch`, JSON.stringify({ leads: Array.from({ length: 20 }, () => lead()) }), { 'x-api-key': INTAKE_KEY });
        expect((await post()).body.accepted).toBe(20);
        expect((await post()).body.accepted).toBe(20);
        const over = await post();
        expect(over.status).toBe(429);
        expect(over.headers.get('retry-after')).toMatch(/^\d+$/);
      } finally {
        await limited.close();
      }
    });

    it('answers 503 + Retry-After for the whole batch when Redis is unreachable', async () => {
      const { url, close } = await startIntakeWithoutRedis('batch-noredis');
      try {
        const answer = await send(`${url}/v1/leads/batch`, JSON.stringify({ leads: [lead(), lead({}, { first_name: '' })] }), { 'x-api-key': INTAKE_KEY });
        expect({ status: answer.status, retryAfter: answer.headers.get('retry-after') }).toEqual({ status: 503, retryAfter: '5' });
        expect(answer.body).not.toHaveProperty('results');
      } finally {
        await close();
      }
    });
  });

  it('stays healthy after all of it', async () => {
    await waitFor('health', async () => (await fetch(`${stack.url}/health/ready`)).status === 200);
  });
});
