import { distributionId, INTAKE_KEY, lead, SandboxControl, Stack, startIntakeWithoutRedis, startSandbox, StartedSandbox } from './support/stack';

describe('deliveries WeGroup must refuse, and an unreachable Redis', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;

  beforeAll(async () => {
    sandbox = await startSandbox();
    control = new SandboxControl(sandbox.url);
  });

  afterAll(async () => {
    await sandbox?.close();
  });

  it('never calls WeGroup with a token that lacks leads:write, and says which scope is missing', async () => {
    const stack = await new Stack({ name: 'noscope', sandboxUrl: sandbox.url, env: { WEGROUP_API_TOKEN_SCOPES: 'leads:read,parties:read' } }).start();
    try {
      const did = distributionId();
      const { id } = (await (await stack.postLead(lead({ distribution_id: did }))).json()) as { id: string };
      const failed = await stack.waitForStatus(id, ['delivered', 'failed']);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, wegroup: null });
      expect(failed.last_error).toMatch(/Missing scope leads:write/);
      expect(failed.last_error).not.toContain(stack.env.WEGROUP_API_TOKEN);
      expect(await control.requests(did)).toHaveLength(0);
    } finally {
      await stack.close();
    }
  });

  it('fails at once, as a permission problem, when WeGroup answers 403', async () => {
    // The configuration claims leads:write, but WeGroup knows better.
    await control.token('read-only-token', ['leads:read']);
    const stack = await new Stack({ name: 'forbidden', sandboxUrl: sandbox.url, env: { WEGROUP_API_TOKEN: 'read-only-token' } }).start();
    try {
      const did = distributionId();
      const { id } = (await (await stack.postLead(lead({ distribution_id: did }))).json()) as { id: string };
      const failed = await stack.waitForStatus(id, ['delivered', 'failed']);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, wegroup: { status_code: 403 } });
      expect(failed.last_error).toMatch(/denied permission \(403\)/);
      expect(await control.requests(did)).toHaveLength(1);
    } finally {
      await stack.close();
    }
  });

  it('fails at once when WeGroup refuses the API token (401), saying the token is bad', async () => {
    const stack = await new Stack({ name: 'badtoken', sandboxUrl: sandbox.url, env: { WEGROUP_API_TOKEN: 'revoked-token' } }).start();
    try {
      const { id } = (await (await stack.postLead(lead())).json()) as { id: string };
      const failed = await stack.waitForStatus(id, ['delivered', 'failed']);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, wegroup: { status_code: 401 } });
      expect(failed.last_error).toMatch(/refused the API token \(401\): check WEGROUP_API_TOKEN/);
      expect(failed.last_error).not.toContain('revoked-token');
    } finally {
      await stack.close();
    }
  });

  it('answers 503 with Retry-After, quickly, when Redis is unreachable', async () => {
    const { url, close } = await startIntakeWithoutRedis('noredis');
    try {
      const response = await fetch(`${url}/v1/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': INTAKE_KEY },
        body: JSON.stringify(lead()),
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(((await response.json()) as { detail: string }).detail).toMatch(/not accepted/);
      expect((await fetch(`${url}/health/ready`)).status).toBe(503);
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
    } finally {
      await close();
    }
  });
});
