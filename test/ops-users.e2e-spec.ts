import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  distributionId,
  INTAKE_KEY,
  lead,
  OPS_AUTH,
  SandboxControl,
  Stack,
  StartedSandbox,
  startStackWithSandbox,
  stopStackWithSandbox,
} from './support/stack';

type Json = Record<string, any>;

const ROOT = path.join(__dirname, '..');
const HIDDEN = '(hidden: operator role needed)';
const VIEWER = { name: 'grace', password: 'grace-viewer-password' };
const OPERATOR = { name: 'alan', password: 'alan-operator-password' };
const basic = (name: string, password: string) => `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;
const AS_VIEWER = basic(VIEWER.name, VIEWER.password);
const AS_OPERATOR = basic(OPERATOR.name, OPERATOR.password);

/** `npm run ops:hash-password -- --stdin`, as a person runs it (the script over the built bundle). */
function hashPassword(password: string, args = ['--stdin']): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts/ops-hash-password.js'), ...args], { input: `${password}\n`, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Ops users with roles, against the real intake and worker: a viewer (OPS_USERS) reads but
 * cannot act or read what WeGroup answered; an operator (OPS_USERS) and the OPS_USERNAME /
 * OPS_PASSWORD pair act; the hashes come from `npm run ops:hash-password`.
 */
describe('ops users and roles', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;
  let nextAddress = 10;
  const newAddress = () => `203.0.113.${nextAddress++}`;

  beforeAll(async () => {
    const viewerHash = hashPassword(VIEWER.password);
    const operatorHash = hashPassword(OPERATOR.password);
    expect(viewerHash).toMatchObject({ status: 0, stderr: '' });
    const OPS_USERS = `${VIEWER.name}:${viewerHash.stdout.trim()}:viewer,${OPERATOR.name}:${operatorHash.stdout.trim()}:operator`;
    ({ sandbox, control, stack } = await startStackWithSandbox('ops-users', { OPS_USERS, INTAKE_TRUST_PROXY: 'loopback' }));
  });
  afterAll(() => stopStackWithSandbox({ sandbox, stack }));

  async function call(pathname: string, authorization: string, init: RequestInit = {}): Promise<{ status: number; body: Json }> {
    const response = await fetch(`${stack.url}${pathname}`, {
      ...init,
      headers: { authorization, 'x-forwarded-for': newAddress(), ...(init.headers as Record<string, string>) },
    });
    const text = await response.text();
    let body: Json = {};
    try {
      body = JSON.parse(text) as Json;
    } catch {
      body = { text };
    }
    return { status: response.status, body };
  }

  /** A lead WeGroup refused for good with a body (a 422), so it is `failed` with WeGroup's words in its log. */
  async function failedLead(): Promise<string> {
    const did = distributionId();
    await control.fault({ status: 422, count: 1, distribution_id: did });
    const { id } = (await (await stack.postLead(lead({ distribution_id: did }))).json()) as { id: string };
    await stack.waitForStatus(id, ['failed']);
    return id;
  }

  describe('npm run ops:hash-password', () => {
    it('prints one scrypt hash per password read from stdin, never the password; a short password or an argument is refused', () => {
      const { status, stdout, stderr } = hashPassword('some-long-password');
      expect(status).toBe(0);
      expect(stderr).toBe('');
      expect(stdout).toMatch(/^scrypt\.N=16384\.r=8\.p=1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\n$/);
      expect(stdout).not.toContain('some-long-password');
      expect(hashPassword('some-long-password').stdout).not.toBe(stdout);
      const short = hashPassword('short');
      expect(short.status).not.toBe(0);
      expect(short.stderr).toMatch(/at least 8 characters/);
      const onCommandLine = hashPassword('', ['--password', 'some-long-password']);
      expect(onCommandLine.status).toBe(2);
      expect(onCommandLine.stderr).toMatch(/never from the command line/);
      expect(onCommandLine.stderr).not.toContain('some-long-password');
    });
  });

  describe('a viewer', () => {
    it('reads the delivery state, the metrics, the sources and the dashboard', async () => {
      for (const pathname of ['/v1/ops/delivery', '/metrics', '/v1/sources', '/ops/queues', '/ops/queues/api/queues']) {
        expect([pathname, (await call(pathname, AS_VIEWER)).status]).toEqual([pathname, 200]);
      }
    });

    it("reads a lead without what WeGroup answered: its body and each attempt's error and body are hidden", async () => {
      const id = await failedLead();
      const asSource = await stack.lead(id);
      const asOperator = await call(`/v1/leads/${id}`, AS_OPERATOR);
      const asViewer = await call(`/v1/leads/${id}`, AS_VIEWER);
      expect(asViewer.status).toBe(200);
      // The source and an operator see WeGroup's words.
      expect(asSource.wegroup).toMatchObject({ status_code: 422, body: expect.any(String) });
      expect(asSource.wegroup.body).not.toBe(HIDDEN);
      expect({ http_status: 200, ...asOperator.body }).toEqual(asSource);
      // The viewer sees the same lead, with those words hidden.
      expect(asViewer.body.wegroup).toEqual({ ...asSource.wegroup, body: HIDDEN });
      const attempt = asViewer.body.attempts_log.at(-1);
      expect(attempt).toMatchObject({ kind: 'attempt', outcome: 'permanent', status_code: 422, error: HIDDEN, body: HIDDEN });
      expect(asViewer.body.last_error).not.toBe(asSource.last_error);
      expect(asViewer.body.last_error).toMatch(/422/);
      expect(JSON.stringify(asViewer.body)).not.toContain(asSource.wegroup.body);
      const { wegroup: _w, attempts_log: _a, last_error: _l, ...rest } = asViewer.body;
      const { wegroup: _sw, attempts_log: _sa, last_error: _sl, http_status: _h, ...sourceRest } = asSource;
      expect(rest).toEqual(sourceRest);
    });

    it('gets a 403 naming the operator role on every action, and nothing changes', async () => {
      const id = await failedLead();
      const json = { 'content-type': 'application/json' };
      const actions: Array<[string, string, Record<string, string>?, string?]> = [
        ['POST', `/v1/leads/${id}/retry`],
        ['DELETE', `/v1/leads/${id}`],
        ['POST', '/v1/ops/leads/retry', json, '{}'],
        ['PUT', `/ops/queues/api/queues/leads/${id}/retry`],
        ['PUT', '/ops/queues/api/queues/leads/retry/failed'],
        ['DELETE', '/v1/connections/00000000-0000-4000-8000-000000000000'],
        ['GET', '/v1/connections/sso/start'],
        ['POST', '/v1/sources/test-crm/preview', json, JSON.stringify(lead())],
      ];
      for (const [method, pathname, headers, body] of actions) {
        const answer = await call(pathname, AS_VIEWER, { method, headers, body });
        expect([method, pathname, answer.status]).toEqual([method, pathname, 403]);
        expect(answer.body.detail).toBe(`This action needs the operator role; ops user "${VIEWER.name}" is a viewer.`);
      }
      await stack.waitUntilDrained();
      const after = await stack.lead(id);
      expect(after.status).toBe('failed');
      expect(after.personal_data_erased_at).toBeNull();
      expect(after.attempts_log.map((entry: Json) => entry.kind)).toEqual(['attempt']);
    });
  });

  describe('an operator', () => {
    it('from OPS_USERS retries a failed lead and erases one', async () => {
      const retried = await failedLead();
      expect((await call(`/v1/leads/${retried}/retry`, AS_OPERATOR, { method: 'POST' })).status).toBe(202);
      expect((await stack.waitForStatus(retried, ['delivered'])).status).toBe('delivered');
      const erased = await failedLead();
      const erasure = await call(`/v1/leads/${erased}`, AS_OPERATOR, { method: 'DELETE' });
      expect(erasure.status).toBe(200);
      expect((await stack.lead(erased)).personal_data_erased_at).not.toBeNull();
    });

    it('from OPS_USERNAME / OPS_PASSWORD is an operator still: retries from the API and the dashboard, bulk retry', async () => {
      const viaApi = await failedLead();
      const viaDashboard = await failedLead();
      expect((await call(`/v1/leads/${viaApi}/retry`, OPS_AUTH, { method: 'POST' })).status).toBe(202);
      expect((await call(`/ops/queues/api/queues/leads/${viaDashboard}/retry`, OPS_AUTH, { method: 'PUT' })).status).toBe(204);
      await Promise.all([stack.waitForStatus(viaApi, ['delivered']), stack.waitForStatus(viaDashboard, ['delivered'])]);
      const bulk = await call('/v1/ops/leads/retry', OPS_AUTH, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(bulk.status).toBe(200);
      // It reads WeGroup's words too.
      const id = await failedLead();
      expect((await call(`/v1/leads/${id}`, OPS_AUTH)).body.wegroup.body).not.toBe(HIDDEN);
    });
  });

  describe('sign-in', () => {
    it('answers 401 to a wrong password, an unknown name, and one user\'s name with another\'s password', async () => {
      const cases = [basic(VIEWER.name, 'not-the-password'), basic('nobody', VIEWER.password), basic(VIEWER.name, OPERATOR.password), basic(OPERATOR.name, VIEWER.password)];
      for (const authorization of cases) {
        const answer = await call('/v1/ops/delivery', authorization);
        expect(answer.status).toBe(401);
        expect(answer.body.detail).toMatch(/Authorization/);
      }
      // A source's key still reads its own lead in full.
      const id = await failedLead();
      const response = await fetch(`${stack.url}/v1/leads/${id}`, { headers: { 'x-api-key': INTAKE_KEY } });
      expect(((await response.json()) as Json).wegroup.body).not.toBe(HIDDEN);
    });
  });
});

describe('the intake refuses a malformed OPS_USERS at boot', () => {
  const boot = (env: Record<string, string>) => {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'dist/apps/intake-api/main.js')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', REDIS_URL: 'redis://127.0.0.1:1', INTAKE_API_KEYS: `test-crm:${INTAKE_KEY}`, DATA_ENCRYPTION_KEY: `test:${Buffer.alloc(32, 1).toString('base64')}`, PORT: '0', ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { status: result.status, lines: `${result.stdout}${result.stderr}`.trim().split('\n') };
  };

  it('with one line naming OPS_USERS and the user, never the hash; and one naming both variables when there is no user', () => {
    const hash = hashPassword('grace-viewer-password').stdout.trim();
    const broken = `${hash.slice(0, -4)}`;
    const malformed = boot({ OPS_USERS: `grace:${broken}:viewer` });
    expect(malformed.status).not.toBe(0);
    expect(malformed.lines).toEqual([expect.stringMatching(/^Configuration error: OPS_USERS user "grace": the password hash /)]);
    expect(malformed.lines[0]).not.toContain(broken.split('.').at(-1)!.slice(0, 10));
    expect(malformed.lines[0]).not.toContain(broken.split('.').at(-2)!.slice(0, 10));

    const twice = boot({ OPS_USERS: `ops:${hash}:viewer`, OPS_USERNAME: 'ops', OPS_PASSWORD: 'ops-test-password' });
    expect(twice.lines).toEqual(['Configuration error: OPS_USERS names user "ops" twice (once as OPS_USERNAME): each ops user once']);

    const none = boot({});
    expect(none.status).not.toBe(0);
    expect(none.lines).toEqual([expect.stringMatching(/^Configuration error: OPS_USERS and OPS_USERNAME \/ OPS_PASSWORD are all unset/)]);
  });
});
