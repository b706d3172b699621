import { Validator } from '@seriousme/openapi-schema-validator';
import { SANDBOX_DEFAULTS } from '@app/wegroup';
import {
  distributionId,
  lead,
  OPS,
  OPS_AUTH,
  OTHER_SOURCE_KEY,
  SandboxControl,
  Stack,
  StartedSandbox,
  startStackWithSandbox,
  stopStackWithSandbox,
} from './stack';

/**
 * The core pipeline scenarios, for any Redis topology: test/lead-pipeline.e2e-spec.ts runs
 * them on the shared test Redis, test/redis-cluster.e2e-spec.ts on a Redis Cluster.
 * `topologyEnv` is read when the suite starts (a cluster's ports are known only then):
 * e.g. `() => ({ REDIS_CLUSTER_NODES: cluster.nodes })`; the shared test Redis when empty.
 */
export function describePipeline(topologyEnv: () => Record<string, string> = () => ({}), label = ''): void {
  describe(`lead pipeline: intake → queue → worker → WeGroup sandbox (API token)${label ? ` ${label}` : ''}`, () => {
    let sandbox: StartedSandbox;
    let control: SandboxControl;
    let stack: Stack;

    beforeAll(async () => ({ sandbox, control, stack } = await startStackWithSandbox('pipeline', topologyEnv())));
    afterAll(() => stopStackWithSandbox({ sandbox, stack }));

    it('delivers a valid lead once, with the exact headers and body', async () => {
      const did = distributionId();
      const body = lead({ distribution_id: did }, { email: 'foo.bar@example.com', language: 'NL' });
      const response = await stack.postLead(body);
      expect(response.status).toBe(202);
      const accepted = (await response.json()) as { id: string; status: string };
      expect(accepted.status).toBe('queued');
      expect(response.headers.get('location')).toBe(`/v1/leads/${accepted.id}`);

      const delivered = await stack.waitForStatus(accepted.id, ['delivered', 'failed']);
      expect(delivered).toMatchObject({ status: 'delivered', attempts: 1, source: 'test-crm', distribution_id: did, last_error: null });
      expect(delivered.wegroup.status_code).toBe(201);
      expect(delivered.delivered_at).toEqual(expect.any(String));

      const requests = await control.requests(did);
      expect(requests).toHaveLength(1);
      const [request] = requests;
      expect(request.method).toBe('POST');
      expect(request.path).toBe(`/v1/api/distributions/${did}/leads/customers`);
      expect(request.headers.authorization).toBe(`apikey ${SANDBOX_DEFAULTS.apiToken}`);
      expect(request.headers['content-type']).toMatch(/^application\/json/);
      const { distribution_id: _internal, ...expectedBody } = body;
      expect(request.body).toEqual(expectedBody);
      expect(delivered.wegroup.lead_id).toBe(request.lead_id);
    });

    it('uses the configured distribution when the lead names none', async () => {
      const response = await stack.postLead(lead());
      const { id } = (await response.json()) as { id: string };
      const delivered = await stack.waitForStatus(id, ['delivered', 'failed']);
      expect(delivered).toMatchObject({ status: 'delivered', distribution_id: SANDBOX_DEFAULTS.distributionId });
    });

    it('answers 400 naming every invalid field, and stores nothing', async () => {
      const response = await stack.postLead({
        origen: 'typo',
        backref: 'not a url',
        prospect: { first_name: '', callbacks: ['ftp://x'], external_ref: {} },
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
      const problem = (await response.json()) as { errors: Array<{ field: string; message: string }> };
      expect(problem.errors.map((e) => e.field).sort()).toEqual(
        ['backref', 'origen', 'prospect.callbacks', 'prospect.external_ref.external_ref', 'prospect.first_name', 'prospect.last_name'].sort(),
      );
      expect(problem.errors.find((e) => e.field === 'prospect.last_name')?.message).toBe('prospect.last_name is required');
      expect(problem.errors.find((e) => e.field === 'origen')?.message).toMatch(/not a known field/);
    });

    it('refuses a missing prospect, non-objects, bad JSON, wrong media type and oversized bodies', async () => {
      expect((await stack.postLead({ origin: 'CRM' })).status).toBe(400);
      expect((await stack.postLead('[1,2]')).status).toBe(400);
      expect((await stack.postLead('{"prospect":')).status).toBe(400);
      const text = await stack.postLead('hello', { 'content-type': 'text/plain' });
      expect(text.status).toBe(415);
      expect(((await text.json()) as { detail: string }).detail).toMatch(/Content-Type must be application\/json/);
      const huge = await stack.postLead(lead({}, { notes: 'x'.repeat(300 * 1024) }));
      expect(huge.status).toBe(413);
    });

    it('answers 401 for a missing or unknown X-API-Key', async () => {
      const missing = await fetch(`${stack.url}/v1/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(lead()),
      });
      expect(missing.status).toBe(401);
      expect(((await missing.json()) as { detail: string }).detail).toMatch(/X-API-Key/);
      expect((await stack.postLead(lead(), { 'x-api-key': 'wrong-key-0123456789abcdef' })).status).toBe(401);
    });

    it('shows a lead only to the source that posted it; unknown ids are 404', async () => {
      const { id } = (await (await stack.postLead(lead())).json()) as { id: string };
      expect((await stack.lead(id, OTHER_SOURCE_KEY)).http_status).toBe(404);
      expect((await stack.lead('00000000-0000-4000-8000-000000000000')).http_status).toBe(404);
    });

    it('retries a 5xx and delivers on the next attempt', async () => {
      const did = distributionId();
      await control.fault({ status: 503, count: 1, distribution_id: did });
      const { id } = (await (await stack.postLead(lead({ distribution_id: did }))).json()) as { id: string };
      const delivered = await stack.waitForStatus(id, ['delivered', 'failed']);
      expect(delivered).toMatchObject({ status: 'delivered', attempts: 2 });
      const requests = await control.requests(did);
      expect(requests.map((r) => r.status)).toEqual([503, 201]);
    });

    it('fails a lead at once on a 400 from WeGroup, with WeGroup’s words, and does not retry', async () => {
      const did = distributionId();
      await control.fault({ status: 400, count: 1, distribution_id: did, body: { detail: 'prospect.birth_date is not a date' } });
      const { id } = (await (await stack.postLead(lead({ distribution_id: did }))).json()) as { id: string };
      const failed = await stack.waitForStatus(id, ['delivered', 'failed']);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
      expect(failed.last_error).toBe('WeGroup answered 400: prospect.birth_date is not a date');
      expect(failed.wegroup).toMatchObject({ status_code: 400 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await control.requests(did)).toHaveLength(1);
    });

    it('protects the ops dashboard with OPS_AUTH auth, page and API alike', async () => {
      const wrong = `Basic ${Buffer.from(`${OPS.username}:nope`).toString('base64')}`;
      for (const path of ['/ops/queues', '/ops/queues/api/queues', '/ops/queues/static/js/main.js']) {
        expect((await fetch(`${stack.url}${path}`)).status).toBe(401);
        expect((await fetch(`${stack.url}${path}`, { headers: { authorization: wrong } })).status).toBe(401);
      }
      const page = await fetch(`${stack.url}/ops/queues`, { headers: { authorization: OPS_AUTH } });
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);
      const api = await fetch(`${stack.url}/ops/queues/api/queues`, { headers: { authorization: OPS_AUTH } });
      expect(api.status).toBe(200);
      expect(JSON.stringify(await api.json())).toContain('leads');
    });

    it('serves a valid OpenAPI 3 document describing every route and error', async () => {
      const response = await fetch(`${stack.url}/docs-json`);
      expect(response.status).toBe(200);
      const document = (await response.json()) as Record<string, any>;
      const validator = new Validator();
      const result = await validator.validate(document);
      expect(result.errors ?? []).toEqual([]);
      expect(result.valid).toBe(true);
      expect(document.openapi).toMatch(/^3\./);
      expect(document.components.securitySchemes['api-key']).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
      const post = document.paths['/v1/leads'].post;
      expect(Object.keys(post.responses).sort()).toEqual(['200', '202', '400', '401', '409', '413', '415', '422', '429', '503']);
      expect(document.paths['/v1/leads/{id}/retry'].post.security).toEqual([{ ops: [] }]);
      expect(Object.keys(document.paths['/v1/leads/{id}'].get.responses).sort()).toEqual(['200', '401', '404', '429', '503']);
      expect((await fetch(`${stack.url}/docs`)).status).toBe(200);
    });

    it('reports liveness and readiness', async () => {
      expect((await fetch(`${stack.url}/health/live`)).status).toBe(200);
      const ready = await fetch(`${stack.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ok', info: { redis: { status: 'up' } } });
    });
  });
}
