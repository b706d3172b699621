import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SANDBOX_DEFAULTS } from '@app/wegroup/wegroup.config';
import { postCallback, SandboxCallbackSender } from './sandbox-callback.sender';
import { startTestSandbox, type RunningSandbox } from './sandbox-http.test-helper';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

/** A real HTTP server standing for the intake (or a CRM): answers each path with the status it is told. */
async function callbackServer(statusFor: (path: string, seen: number) => number = () => 200) {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      received.push({ path, headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      response.statusCode = statusFor(path, received.filter((r) => r.path === path).length);
      response.end('{"status":"recorded"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const lead = (callbacks: string[]) => ({ origin: 'CRM', prospect: { first_name: 'Foo', last_name: 'Bar', callbacks } });
const AUTH = { authorization: `apikey ${SANDBOX_DEFAULTS.apiToken}` };

describe('sandbox callbacks (a real HTTP server receives them)', () => {
  let sandbox: RunningSandbox;
  let sender: SandboxCallbackSender;

  beforeAll(async () => {
    sandbox = await startTestSandbox({ callbacks: ['created', 'offer_sent'], callbackDelayMs: 20 });
    sender = sandbox.app.get(SandboxCallbackSender);
  });
  afterAll(() => sandbox.close());

  it("posts each status in order to each of a created lead's callback URLs", async () => {
    const server = await callbackServer();
    try {
      const created = await sandbox.call('POST', '/v1/api/distributions/d-cb/leads/customers', { headers: AUTH, body: lead([`${server.base}/crm`, `${server.base}/ours/token`]) });
      expect(created.status).toBe(201);
      await sender.idle();
      const byPath = (path: string) => server.received.filter((r) => r.path === path).map((r) => r.body);
      for (const path of ['/crm', '/ours/token']) {
        expect(byPath(path)).toEqual([
          { event: 'lead.status_changed', lead_id: created.json.id, status: 'created', at: expect.any(String) },
          { event: 'lead.status_changed', lead_id: created.json.id, status: 'offer_sent', at: expect.any(String) },
        ]);
      }
      expect(server.received[0].headers['content-type']).toBe('application/json');
    } finally {
      await server.close();
    }
  });

  it('tries a failed post once more, never more, and goes on with the next status', async () => {
    const server = await callbackServer((path) => (path === '/down' ? 503 : 200));
    try {
      await sandbox.call('POST', '/v1/api/distributions/d-cb/leads/customers', { headers: AUTH, body: lead([`${server.base}/down`]) });
      await sender.idle();
      expect(server.received.map((r) => r.body.status)).toEqual(['created', 'created', 'offer_sent', 'offer_sent']);
    } finally {
      await server.close();
    }
  });

  it('sends nothing for a lead without callback URLs, nor once callbacks are turned off through the control API', async () => {
    const server = await callbackServer();
    try {
      await sandbox.call('POST', '/v1/api/distributions/d-cb/leads/customers', { headers: AUTH, body: lead([]) });
      const off = await sandbox.call('PUT', '/_sandbox/behaviour', { body: { callbacks: [] } });
      expect(off.json).toMatchObject({ callbacks: [], callback_delay_ms: 20 });
      await sandbox.call('POST', '/v1/api/distributions/d-cb/leads/customers', { headers: AUTH, body: lead([`${server.base}/crm`]) });
      await sender.idle();
      expect(server.received).toEqual([]);
      const on = await sandbox.call('PUT', '/_sandbox/behaviour', { body: { callbacks: ['created', 'offer_sent'], callback_delay_ms: 20 } });
      expect(on.json).toMatchObject({ callbacks: ['created', 'offer_sent'], callback_delay_ms: 20 });
    } finally {
      await server.close();
    }
  });

  it('postCallback: the status, a refusal, no server, and no answer in time, without throwing', async () => {
    const server = await callbackServer((path) => (path === '/refuse' ? 401 : 204));
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      expect(await postCallback(`${server.base}/ok`, '{}')).toEqual({ ok: true, status: 204 });
      expect(await postCallback(`${server.base}/refuse`, '{}')).toEqual({ ok: false, problem: 'answered 401' });
      expect(await postCallback('http://127.0.0.1:1/none', '{}')).toEqual({ ok: false, problem: 'no connection' });
      const port = (silent.address() as AddressInfo).port;
      expect(await postCallback(`http://127.0.0.1:${port}/slow`, '{}', undefined, 100)).toEqual({ ok: false, problem: 'no answer within 100 ms' });
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
      await server.close();
    }
  });
});
