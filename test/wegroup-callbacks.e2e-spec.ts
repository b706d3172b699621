import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { callbackToken, readDataKeyring } from '@app/leads';
import { keyPrefix, LEADS_QUEUE } from '@app/queue';
import { connectRedis } from './support/redis-keys';
import { distributionId, freePort, lead, OPS_AUTH, SandboxControl, Stack, StartedSandbox, startSandbox, TEST_DATA_KEY } from './support/stack';
import { waitFor } from './support/wait';

type Json = Record<string, any>;

/** Every JSON log line an app writes. */
class LogCapture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

/**
 * The callback loop, all real: the worker pushes a lead to the sandbox with our callback URL
 * (PUBLIC_BASE_URL = the intake) after the CRM's own, the sandbox (SANDBOX_CALLBACKS) posts its
 * status updates to both, and the intake records them on the lead, sealed, until erasure.
 */
describe('WeGroup callbacks recorded on the lead', () => {
  let sandbox: StartedSandbox;
  let stack: Stack;
  let crm: { server: Server; url: string; received: Json[] };
  const keyring = readDataKeyring({ DATA_ENCRYPTION_KEY: TEST_DATA_KEY });
  const redis = connectRedis();
  // The first app created in a process sets up the one pino instance (nestjs-pino): the
  // sandbox's destination gets every app's lines, the intake's and the worker's too.
  const processLog = new LogCapture();

  beforeAll(async () => {
    const received: Json[] = [];
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json);
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    crm = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/crm/wegroup-callback`, received };

    sandbox = await startSandbox({ callbacks: ['created', 'offer_sent'], callbackDelayMs: 50, logLevel: 'trace', logDestination: processLog });
    const port = await freePort();
    stack = await new Stack({
      name: 'wegroup-callbacks',
      sandboxUrl: sandbox.url,
      port,
      // Local URLs are http: the CRM's callback URL and ours.
      env: { PUBLIC_BASE_URL: `http://127.0.0.1:${port}`, ALLOW_HTTP_URLS: 'true' },
    }).start();
  });

  afterAll(async () => {
    await stack?.close();
    await sandbox?.close();
    redis.disconnect();
    crm?.server.closeAllConnections();
    await new Promise<void>((resolve) => crm?.server.close(() => resolve()));
  });

  const opsLead = async (id: string): Promise<Json> => {
    const response = await fetch(`${stack.url}/v1/leads/${id}`, { headers: { authorization: OPS_AUTH } });
    return { http_status: response.status, ...((await response.json()) as Json) };
  };
  const callback = (leadId: string, token: string, body: string, contentType?: string) =>
    fetch(`${stack.url}/v1/callbacks/wegroup/${leadId}/${token}`, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body });
  const callbackKeys = (id: string) => [`${keyPrefix(stack.queuePrefix)}:${LEADS_QUEUE}:lead-callbacks:${id}`, `${keyPrefix(stack.queuePrefix)}:${LEADS_QUEUE}:lead-callbacks-count:${id}`];

  /** A lead delivered to the sandbox, with its WeGroup (sandbox) id, once both callbacks are recorded. */
  async function deliveredWithCallbacks(): Promise<{ id: string; wegroupId: string; view: Json }> {
    const distribution = distributionId();
    const posted = await stack.postLead(lead({ distribution_id: distribution }, { callbacks: [crm.url] }));
    expect(posted.status).toBe(202);
    const { id } = (await posted.json()) as { id: string };
    const delivered = await stack.waitForStatus(id, ['delivered']);
    const view = await waitFor(`two callbacks on lead ${id}`, async () => {
      const current = await opsLead(id);
      return current.callbacks_received?.length >= 2 ? current : undefined;
    });
    return { id, wegroupId: delivered.wegroup.lead_id as string, view };
  }

  it("pushes our callback URL after the CRM's own; the sandbox's two callbacks show on the lead in order", async () => {
    const { id, wegroupId, view } = await deliveredWithCallbacks();
    expect(view.callbacks_received).toEqual([
      { received_at: expect.any(String), content_type: 'application/json', body: { event: 'lead.status_changed', lead_id: wegroupId, status: 'created', at: expect.any(String) } },
      { received_at: expect.any(String), content_type: 'application/json', body: { event: 'lead.status_changed', lead_id: wegroupId, status: 'offer_sent', at: expect.any(String) } },
    ]);
    expect(Date.parse(view.callbacks_received[0].received_at)).toBeLessThanOrEqual(Date.parse(view.callbacks_received[1].received_at));

    // What WeGroup got: the CRM's URL untouched, then ours with the lead's token.
    const [pushed] = (await new SandboxControl(sandbox.url).requests(view.distribution_id)) as Json[];
    expect(pushed.body.prospect.callbacks).toEqual([crm.url, `${stack.url}/v1/callbacks/wegroup/${id}/${callbackToken(keyring, id)}`]);
    // The CRM's own URL got WeGroup's updates too.
    await waitFor('the CRM to receive both callbacks', async () => (crm.received.filter((body) => body.lead_id === wegroupId).length >= 2 ? true : undefined));

    // Stored sealed: nothing of the callback in clear in Redis.
    const stored = await redis.lrange(callbackKeys(id)[0], 0, -1);
    expect(stored).toHaveLength(2);
    expect(stored.join('\n')).not.toContain(wegroupId);
  });

  it('refuses a forged token with the documented 401 and stores nothing', async () => {
    const { id } = await deliveredWithCallbacks();
    const forged = await callback(id, callbackToken(keyring, randomUUID()), '{"status":"lost"}', 'application/json');
    expect(forged.status).toBe(401);
    expect(forged.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await forged.json()) as Json;
    const document = (await (await fetch(`${stack.url}/docs-json`)).json()) as Json;
    expect(problem).toEqual(document.paths['/v1/callbacks/wegroup/{leadId}/{token}'].post.responses['401'].content['application/problem+json'].example);
    expect((await callback(id, 'not-a-token', 'x', 'text/plain')).status).toBe(401);
    expect((await opsLead(id)).callbacks_received).toHaveLength(2);
    expect(await redis.llen(callbackKeys(id)[0])).toBe(2);
  });

  it('takes any content type up to 64 KB, keeps the body as sent, and refuses a larger one', async () => {
    const { id } = await deliveredWithCallbacks();
    const token = callbackToken(keyring, id);
    const text = await callback(id, token, 'status=signed&note=caf%C3%A9', 'application/x-www-form-urlencoded');
    expect({ status: text.status, body: await text.json() }).toEqual({ status: 200, body: { status: 'recorded' } });
    expect((await callback(id, token, '<status>signed</status>', 'application/vnd.wegroup.status+xml')).status).toBe(200);
    expect((await callback(id, token, 'plain words', 'text/plain')).status).toBe(200);
    const tooLarge = await callback(id, token, 'x'.repeat(64 * 1024 + 1), 'text/plain');
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as Json).detail).toBe('The request body is larger than 64 KB.');
    const bodies = (await opsLead(id)).callbacks_received.slice(2).map(({ content_type, body }: Json) => ({ content_type, body }));
    expect(bodies).toEqual([
      { content_type: 'application/x-www-form-urlencoded', body: 'status=signed&note=caf%C3%A9' },
      { content_type: 'application/vnd.wegroup.status+xml', body: '<status>signed</status>' },
      { content_type: 'text/plain', body: 'plain words' },
    ]);
  });

  it('acknowledges and drops a callback for a lead it does not know (a valid token for that id)', async () => {
    const unknown = randomUUID();
    const response = await callback(unknown, callbackToken(keyring, unknown), '{"status":"created"}', 'application/json');
    expect({ status: response.status, body: await response.json() }).toEqual({ status: 200, body: { status: 'ignored' } });
    expect(await redis.exists(...callbackKeys(unknown))).toBe(0);
  });

  it('erasure removes the stored callbacks; later ones are acknowledged and dropped', async () => {
    const { id } = await deliveredWithCallbacks();
    expect(await redis.exists(callbackKeys(id)[0])).toBe(1);
    const erased = await fetch(`${stack.url}/v1/leads/${id}`, { method: 'DELETE', headers: { authorization: OPS_AUTH } });
    expect(erased.status).toBe(200);
    const view = await opsLead(id);
    expect(view.personal_data_erased_at).toEqual(expect.any(String));
    expect(view.callbacks_received).toEqual([]);
    expect(await redis.exists(...callbackKeys(id))).toBe(0);

    const late = await callback(id, callbackToken(keyring, id), '{"status":"signed"}', 'application/json');
    expect({ status: late.status, body: await late.json() }).toEqual({ status: 200, body: { status: 'ignored' } });
    expect(await redis.exists(...callbackKeys(id))).toBe(0);
  });

  it('logs neither a token nor a body: request lines hide the token, the ignored line says why without the body', async () => {
    const { id } = await deliveredWithCallbacks();
    const unknown = randomUUID();
    const marker = `Lovelace-${randomUUID()}`;
    const send = (leadId: string, token: string) => callback(leadId, token, JSON.stringify({ name: marker }), 'application/json');
    expect((await send(id, callbackToken(keyring, id))).status).toBe(200);
    expect((await send(unknown, callbackToken(keyring, unknown))).status).toBe(200);
    expect((await send(id, callbackToken(keyring, unknown))).status).toBe(401);
    await waitFor('the request lines', async () => (processLog.text.includes(`/v1/callbacks/wegroup/${unknown}/[REDACTED] 200`) ? true : undefined));
    expect(processLog.text).toContain(`WeGroup callback for lead ${unknown} ignored: no such lead`);
    expect(processLog.text).toContain(`/v1/callbacks/wegroup/${id}/[REDACTED] 401`);
    // The sandbox names the URLs it calls by position and host only.
    expect(processLog.text).toContain('callback \\"offer_sent\\" to URL #2'); // JSON-escaped quotes
    for (const secret of [callbackToken(keyring, id), callbackToken(keyring, unknown), marker]) expect(processLog.text).not.toContain(secret);
  });
});
