import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { createSandboxApp, readSandboxOptions } from '../apps/wegroup-sandbox/src/sandbox.app';
import { freePort, INTAKE_KEY, lead, OPS_AUTH, SandboxControl, Stack, StartedSandbox, TEST_LOGGER } from './support/stack';
import { waitFor } from './support/wait';

/**
 * Closing the loop end to end: the real intake, worker and WeGroup sandbox, the sandbox posting
 * status callbacks to every URL in a lead's `prospect.callbacks`, and a real HTTP server standing
 * in for the CRM: its events endpoint checks every request with the `standardwebhooks` library,
 * as the README tells a CRM to, and its own callback URL records what WeGroup sends it.
 *
 * One source declares its endpoint in the sources file (secret as a ${VAR} reference); the
 * INTAKE_API_KEYS source `test-crm` declares one with environment variables only.
 */

type Json = Record<string, any>;

/** Given in order to every accepted lead's callback URLs by the sandbox, this far apart. */
const SANDBOX_STATUSES = ['created', 'offer_sent'];
const SANDBOX_CALLBACK_DELAY_MS = 300;

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const FILE_SOURCE = 'crm-loop';
const FILE_SECRET = newSecret();
const FILE_API_KEY = `loop-key-${randomBytes(12).toString('hex')}`;
const ENV_SOURCE = 'test-crm';
const ENV_SECRET = newSecret();
/** Each source's leads go to their own distribution, so the sandbox tells them apart. */
const FILE_DIST = randomUUID();
const ENV_DIST = randomUUID();

/** The receiver's paths: one events endpoint per source, and the CRM's own WeGroup callback URL. */
const PATHS = { file: '/hooks/file-source', env: '/hooks/env-source', crmCallback: '/crm/wegroup-callback' };
const SECRET_BY_PATH: Record<string, string> = { [PATHS.file]: FILE_SECRET, [PATHS.env]: ENV_SECRET };

/** What an events endpoint received: the exact bytes and headers, and the event they verified as. */
interface ReceivedEvent {
  path: string;
  headers: Record<string, string>;
  raw: string;
  event: { type: string; timestamp: string; data: Json };
  /** What the receiver answered (a 500 it was told to give, or 204). */
  answered: number;
}

function flatHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/**
 * The CRM: a node:http server. Its events endpoints accept only what `new Webhook(secret).verify`
 * accepts (401 otherwise, recorded in `refused`), and can be told to fail the next deliveries of
 * a type; its callback URL records WeGroup's callbacks.
 */
class CrmReceiver {
  readonly events: ReceivedEvent[] = [];
  readonly refused: Array<{ path: string; reason: string }> = [];
  readonly callbacks: Array<{ contentType: string | undefined; body: Json }> = [];
  private readonly failures: Array<{ path: string; type: string; status: number; remaining: number }> = [];
  private server!: Server;
  url!: string;

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      request.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 1_000_000) chunks.push(chunk);
      });
      request.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const status = this.handle(request.url ?? '', flatHeaders(request.headers), raw);
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The next `count` deliveries of `type` to this path are answered `status`. */
  failNext(path: string, type: string, status: number, count = 1): void {
    this.failures.push({ path, type, status, remaining: count });
  }

  eventsOf(path: string, leadId: string, type?: string): ReceivedEvent[] {
    return this.events.filter((e) => e.path === path && e.event.data?.lead_id === leadId && (type === undefined || e.event.type === type));
  }

  /** The accepted (204) deliveries of one lead's events of a type, once there are `count` of them. */
  waitForEvents(path: string, leadId: string, type: string, count = 1, timeoutMs = 20_000): Promise<ReceivedEvent[]> {
    return waitFor(`${count} accepted ${type} event(s) for lead ${leadId}`, async () => {
      const accepted = this.eventsOf(path, leadId, type).filter((e) => e.answered === 204);
      return accepted.length >= count ? accepted : undefined;
    }, { timeoutMs });
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(path: string, headers: Record<string, string>, raw: string): number {
    if (path === PATHS.crmCallback) {
      this.callbacks.push({ contentType: headers['content-type'], body: JSON.parse(raw) as Json });
      return 204;
    }
    const secret = SECRET_BY_PATH[path];
    if (!secret) return 404;
    let event: ReceivedEvent['event'];
    try {
      // The README's snippet: the bytes as received, the headers as received.
      event = new Webhook(secret).verify(raw, headers) as ReceivedEvent['event'];
    } catch (error) {
      this.refused.push({ path, reason: (error as Error).message });
      return 401;
    }
    const failure = this.failures.find((f) => f.path === path && f.type === event.type && f.remaining > 0);
    if (failure) failure.remaining -= 1;
    const answered = failure ? failure.status : 204;
    this.events.push({ path, headers, raw, event, answered });
    return answered;
  }
}

const sourcesYaml = (receiverUrl: string) => `# Written by test/closing-the-loop.e2e-spec.ts.
sources:
  - name: ${FILE_SOURCE}
    type: json
    api_key: \${LOOP_API_KEY}
    events:
      url: ${receiverUrl}${PATHS.file}
      secret: \${LOOP_EVENTS_SECRET}
`;

describe('closing the loop: lead events back to the CRM, and WeGroup\'s callbacks recorded on the lead', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;
  let crm: CrmReceiver;
  let dir: string;
  /** How WeGroup reaches the intake: the intake's own address here. */
  let publicBaseUrl: string;

  /** The prospect's personal fields of every lead posted here: no event may carry one. */
  const prospectValues: string[] = [];
  function prospect(): Json {
    const tag = randomBytes(4).toString('hex');
    const fields = { first_name: `Loopfirst${tag}`, last_name: `Looplast${tag}`, email: `loop.${tag}@example.be`, telephonenr: `+32470${tag}` };
    prospectValues.push(...Object.values(fields));
    return { ...fields, callbacks: [`${crm.url}${PATHS.crmCallback}`] };
  }

  async function ops(route: string, method = 'GET', body?: unknown): Promise<{ status: number; body: Json }> {
    const response = await fetch(`${stack.url}${route}`, {
      method,
      headers: { authorization: OPS_AUTH, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Json) : {} };
  }

  const opsLead = async (id: string) => (await ops(`/v1/leads/${id}`)).body;

  /** Waits until the lead reaches one of the statuses (read with the ops credentials: every source's lead). */
  const waitForLead = (id: string, statuses: string[]) =>
    waitFor(`lead ${id} to be ${statuses.join('/')}`, async () => {
      const view = await opsLead(id);
      return statuses.includes(view.status) ? view : undefined;
    });

  async function post(body: unknown, key: string): Promise<string> {
    const response = await stack.postLead(body, { 'x-api-key': key });
    expect(response.status).toBe(202);
    return ((await response.json()) as Json).id as string;
  }

  /** Until every event the status view lists for the lead is `delivered` (and there are `count`). */
  function waitForDeliveredEvents(id: string, count: number): Promise<Json[]> {
    return waitFor(`the ${count} events of lead ${id} to be delivered`, async () => {
      const events = ((await opsLead(id)).events ?? []) as Json[];
      return events.length === count && events.every((e) => e.state === 'delivered') ? events : undefined;
    });
  }

  beforeAll(async () => {
    crm = await new CrmReceiver().start();
    dir = mkdtempSync(path.join(tmpdir(), 'closing-the-loop-'));
    const sourcesFile = path.join(dir, 'sources.yml');
    writeFileSync(sourcesFile, sourcesYaml(crm.url));

    const app = await createSandboxApp({
      ...readSandboxOptions({ SANDBOX_CALLBACKS: SANDBOX_STATUSES.join(','), SANDBOX_CALLBACK_DELAY_MS: String(SANDBOX_CALLBACK_DELAY_MS) }),
      logger: TEST_LOGGER,
      logLevel: 'error',
    });
    await app.listen(0, '127.0.0.1');
    const sandboxUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    sandbox = { url: sandboxUrl, app, close: () => app.close() };
    control = new SandboxControl(sandboxUrl);

    // The worker writes PUBLIC_BASE_URL into each lead's callback URL before the intake listens.
    const port = await freePort();
    publicBaseUrl = `http://127.0.0.1:${port}`;
    stack = await new Stack({
      name: 'closing-the-loop',
      sandboxUrl,
      port,
      env: {
        SOURCES_FILE: sourcesFile,
        LOOP_API_KEY: FILE_API_KEY,
        LOOP_EVENTS_SECRET: FILE_SECRET,
        SOURCE_EVENTS: `${ENV_SOURCE}=${crm.url}${PATHS.env}`,
        SOURCE_EVENT_SECRETS: `${ENV_SOURCE}=${ENV_SECRET}`,
        SOURCE_EVENT_TYPES: `${ENV_SOURCE}=lead.retrying|lead.delivered|lead.failed`,
        PUBLIC_BASE_URL: publicBaseUrl,
        // The CRM receiver, its callback URL and the intake listen on http://127.0.0.1.
        ALLOW_HTTP_URLS: 'true',
      },
    }).start();
  });

  afterAll(async () => {
    await stack?.close();
    await sandbox?.close();
    await crm?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // The lead of the file source, followed through delivery, callbacks and erasure.
  let id: string;
  let ref: string;
  let wegroupLeadId: string;
  let callbackUrl: string;

  it('a delivered lead: the source gets a verifiable lead.delivered with WeGroup\'s lead id, and a retried event keeps its webhook-id', async () => {
    // The CRM fails the first delivery of lead.delivered; the second is accepted.
    crm.failNext(PATHS.file, 'lead.delivered', 500);
    ref = randomUUID();
    id = await post(lead({ distribution_id: FILE_DIST }, { ...prospect(), external_ref: { external_ref: ref, external_ref_company: 'acme' } }), FILE_API_KEY);
    await waitForLead(id, ['delivered']);

    // WeGroup (the sandbox) got the CRM's callback URL untouched and first, then ours.
    const [request] = await control.requests(FILE_DIST);
    wegroupLeadId = request.lead_id as string;
    expect(wegroupLeadId).toEqual(expect.any(String));
    const callbacks = request.body.prospect.callbacks as string[];
    expect(callbacks).toHaveLength(2);
    expect(callbacks[0]).toBe(`${crm.url}${PATHS.crmCallback}`);
    expect(callbacks[1]).toMatch(new RegExp(`^${publicBaseUrl.replace(/\./g, '\\.')}/v1/callbacks/wegroup/${id}/[A-Za-z0-9_-]{43}$`));
    callbackUrl = callbacks[1];

    const [accepted] = await crm.waitForEvents(PATHS.file, id, 'lead.delivered');
    expect(accepted.event).toEqual({
      type: 'lead.delivered',
      timestamp: expect.any(String),
      data: { lead_id: id, source: FILE_SOURCE, external_ref: { external_ref: ref, external_ref_company: 'acme' }, wegroup: { status_code: 201, lead_id: wegroupLeadId } },
    });
    expect(new Date(accepted.event.timestamp).toISOString()).toBe(accepted.event.timestamp);
    expect(accepted.headers['content-type']).toMatch(/^application\/json/);
    // Signed for this source only: the other source's secret does not verify it.
    expect(() => new Webhook(ENV_SECRET).verify(accepted.raw, accepted.headers)).toThrow();

    // Both deliveries of the one event: the same webhook-id and body, the first answered 500.
    const deliveries = crm.eventsOf(PATHS.file, id, 'lead.delivered');
    expect(deliveries.map((d) => d.answered)).toEqual([500, 204]);
    expect(deliveries[0].headers['webhook-id']).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(deliveries[1].headers['webhook-id']).toBe(deliveries[0].headers['webhook-id']);
    expect(deliveries[1].raw).toBe(deliveries[0].raw);
    expect(crm.refused).toEqual([]);
  });

  it('WeGroup\'s callbacks are recorded on the lead, forwarded as lead.updated in order, and the CRM\'s own callback URL still gets them', async () => {
    const updates = await crm.waitForEvents(PATHS.file, id, 'lead.updated', SANDBOX_STATUSES.length);
    expect(updates.map((u) => u.event.data.callback.body.status)).toEqual(SANDBOX_STATUSES);
    for (const [i, update] of updates.entries()) {
      expect(update.event).toEqual({
        type: 'lead.updated',
        timestamp: expect.any(String),
        data: {
          lead_id: id,
          source: FILE_SOURCE,
          external_ref: { external_ref: ref, external_ref_company: 'acme' },
          callback: {
            received_at: expect.any(String),
            content_type: expect.stringMatching(/^application\/json/),
            // WeGroup's body kept whole (the sandbox's stand-in payload).
            body: { event: 'lead.status_changed', lead_id: wegroupLeadId, status: SANDBOX_STATUSES[i], at: expect.any(String) },
          },
        },
      });
    }
    expect(new Set(updates.map((u) => u.headers['webhook-id'])).size).toBe(SANDBOX_STATUSES.length);

    const view = await waitFor('both callbacks on the lead', async () => {
      const current = await opsLead(id);
      return current.callbacks_received?.length === SANDBOX_STATUSES.length ? current : undefined;
    });
    expect(view.callbacks_received).toEqual(
      SANDBOX_STATUSES.map((status) => ({
        received_at: expect.any(String),
        content_type: expect.stringMatching(/^application\/json/),
        body: { event: 'lead.status_changed', lead_id: wegroupLeadId, status, at: expect.any(String) },
      })),
    );

    // Each event's state, under the id the CRM saw as webhook-id.
    const events = await waitForDeliveredEvents(id, 1 + SANDBOX_STATUSES.length);
    const delivered = crm.eventsOf(PATHS.file, id, 'lead.delivered')[0];
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: delivered.headers['webhook-id'], type: 'lead.delivered', state: 'delivered', attempts: 2, delivered_at: expect.any(String), status_code: 204 }),
        ...updates.map((u) => expect.objectContaining({ id: u.headers['webhook-id'], type: 'lead.updated', state: 'delivered', attempts: 1, status_code: 204 })),
      ]),
    );

    // The CRM's own callback URL got WeGroup's callbacks too.
    await waitFor('the CRM\'s own callback URL to get both statuses', async () => crm.callbacks.filter((c) => c.body.lead_id === wegroupLeadId).length === SANDBOX_STATUSES.length);
    expect(crm.callbacks.filter((c) => c.body.lead_id === wegroupLeadId).map((c) => c.body.status)).toEqual(SANDBOX_STATUSES);
  });

  it('a callback with a forged token is refused (401) and nothing is stored or forwarded', async () => {
    const forged = callbackUrl.replace(/[^/]+$/, (token) => (token[0] === 'A' ? 'B' : 'A') + token.slice(1));
    const otherLead = callbackUrl.replace(`/wegroup/${id}/`, `/wegroup/${randomUUID()}/`);
    for (const url of [forged, otherLead, callbackUrl.replace(/[^/]+$/, 'not-a-token')]) {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'forged' }) });
      expect({ url, status: response.status }).toEqual({ url, status: 401 });
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    // A moment for anything wrongly accepted to show up.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await opsLead(id)).callbacks_received).toHaveLength(SANDBOX_STATUSES.length);
    expect(crm.eventsOf(PATHS.file, id, 'lead.updated')).toHaveLength(SANDBOX_STATUSES.length);
  });

  it('erasure: the source gets lead.erased, the stored callbacks go, and a later callback is acknowledged and dropped', async () => {
    const erased = await ops(`/v1/leads/${id}`, 'DELETE');
    expect(erased.status).toBe(200);

    const [event] = await crm.waitForEvents(PATHS.file, id, 'lead.erased');
    expect(event.event).toEqual({
      type: 'lead.erased',
      timestamp: expect.any(String),
      data: { lead_id: id, source: FILE_SOURCE, external_ref: { external_ref: ref, external_ref_company: 'acme' } },
    });
    const view = await opsLead(id);
    expect(view.personal_data_erased_at).toEqual(expect.any(String));
    expect(view.callbacks_received ?? []).toEqual([]);

    // WeGroup calling again after the erasure: acknowledged so it stops, nothing kept or sent.
    const late = await fetch(callbackUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'late' }) });
    expect(late.status).toBe(200);
    expect(await late.json()).toEqual({ status: 'ignored' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await opsLead(id)).callbacks_received ?? []).toEqual([]);
    expect(crm.eventsOf(PATHS.file, id, 'lead.updated')).toHaveLength(SANDBOX_STATUSES.length);
    expect(crm.refused).toEqual([]);
  });

  describe('a source whose endpoint is given by environment variables (SOURCE_EVENTS, SOURCE_EVENT_SECRETS, SOURCE_EVENT_TYPES)', () => {
    it('a transient WeGroup failure: lead.retrying (opt-in) with the next attempt, then lead.delivered; types it did not take are not sent', async () => {
      await control.fault({ status: 503, count: 1, distribution_id: ENV_DIST });
      const envRef = randomUUID();
      const envId = await post(lead({ distribution_id: ENV_DIST }, { ...prospect(), external_ref: { external_ref: envRef, external_ref_company: 'acme' } }), INTAKE_KEY);
      await waitForLead(envId, ['delivered']);

      const [retrying] = await crm.waitForEvents(PATHS.env, envId, 'lead.retrying');
      expect(retrying.event).toEqual({
        type: 'lead.retrying',
        timestamp: expect.any(String),
        data: {
          lead_id: envId,
          source: ENV_SOURCE,
          external_ref: { external_ref: envRef, external_ref_company: 'acme' },
          reason: expect.stringContaining('503'),
          attempt: 1,
          next_attempt_at: expect.any(String),
        },
      });
      expect(Number.isNaN(Date.parse(retrying.event.data.next_attempt_at))).toBe(false);
      const [delivered] = await crm.waitForEvents(PATHS.env, envId, 'lead.delivered');
      const [request] = (await control.requests(ENV_DIST)).filter((r) => r.status === 201);
      expect(delivered.event.data).toEqual({
        lead_id: envId,
        source: ENV_SOURCE,
        external_ref: { external_ref: envRef, external_ref_company: 'acme' },
        wegroup: { status_code: 201, lead_id: request.lead_id },
      });
      // Signed with this source's own secret, not the file source's.
      expect(() => new Webhook(FILE_SECRET).verify(delivered.raw, delivered.headers)).toThrow();
      expect(retrying.headers['webhook-id']).not.toBe(delivered.headers['webhook-id']);

      // The sandbox's callbacks are recorded on the lead, but lead.updated is not among its types.
      await waitFor('both callbacks on the env source\'s lead', async () => (await opsLead(envId)).callbacks_received?.length === SANDBOX_STATUSES.length);
      await waitForDeliveredEvents(envId, 2);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(crm.eventsOf(PATHS.env, envId).map((e) => e.event.type)).toEqual(['lead.retrying', 'lead.delivered']);
      expect(crm.events.filter((e) => e.path === PATHS.file && e.event.data.lead_id === envId)).toEqual([]);
    });

    it('a permanent WeGroup refusal: lead.failed with the reason in words, the attempts and whether it can be retried', async () => {
      await control.fault({ status: 422, count: 1, distribution_id: ENV_DIST, body: { detail: [{ loc: ['prospect', 'first_name'], msg: 'field required' }] } });
      const failedId = await post(lead({ distribution_id: ENV_DIST }, prospect()), INTAKE_KEY);
      const view = await waitForLead(failedId, ['failed']);

      const [failed] = await crm.waitForEvents(PATHS.env, failedId, 'lead.failed');
      expect(failed.event).toEqual({
        type: 'lead.failed',
        timestamp: expect.any(String),
        data: {
          lead_id: failedId,
          source: ENV_SOURCE,
          external_ref: expect.objectContaining({ external_ref: expect.any(String) }),
          reason: expect.stringContaining('422'),
          attempts: 1,
          retryable: true,
        },
      });
      // The event says what the job's failure reason says: WeGroup's codes, values masked. The
      // lead's last_error (ops, the source) quotes WeGroup's own words, which stay out of events.
      expect(failed.event.data.reason).toBe('WeGroup answered 422: prospect.first_name: field required');
      expect(view.last_error).toMatch(/^WeGroup answered 422/);
      expect((await waitForDeliveredEvents(failedId, 1))[0]).toMatchObject({ type: 'lead.failed', state: 'delivered' });
    });
  });

  it('no event carries a prospect field', () => {
    expect(crm.events.length).toBeGreaterThanOrEqual(8);
    expect(prospectValues.length).toBeGreaterThan(0);
    for (const received of crm.events) {
      for (const value of prospectValues) expect({ type: received.event.type, leaks: received.raw.includes(value) }).toEqual({ type: received.event.type, leaks: false });
      expect(received.event.data).not.toHaveProperty('prospect');
    }
    expect(crm.refused).toEqual([]);
  });
});
