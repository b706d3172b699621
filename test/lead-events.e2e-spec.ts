import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import {
  distributionId,
  freePort,
  INTAKE_KEY,
  lead,
  OPS_AUTH,
  OTHER_SOURCE_KEY,
  SandboxControl,
  Stack,
  StartedSandbox,
  startSandbox,
} from './support/stack';
import { waitFor } from './support/wait';

type Json = Record<string, any>;

const SECRET = `whsec_${Buffer.alloc(32, 42).toString('base64')}`;
const DEAD_SECRET = `whsec_${Buffer.alloc(32, 43).toString('base64')}`;
const QUIET_KEY = 'quiet-intake-key-0123456789';
/** What an event's data may hold: ids, the source's own reference, WeGroup's status and words about the delivery. Never a prospect field. */
const DATA_KEYS = new Set(['lead_id', 'source', 'external_ref', 'wegroup', 'reason', 'attempts', 'attempt', 'retryable', 'next_attempt_at', 'callback']);

interface Received {
  id: string;
  verified: boolean;
  body: Json;
  raw: string;
  status: number;
  at: number;
}

/**
 * A CRM's events endpoint: a real HTTP server that verifies every event's signature with the
 * standardwebhooks library, as the README tells CRMs to, and answers as each test asks
 * (by the lead's external_ref).
 */
class Receiver {
  readonly received: Received[] = [];
  /** external_ref → the answers to give first (status, headers). */
  readonly answers = new Map<string, Array<{ status: number; headers?: Record<string, string> }>>();
  private server!: Server;
  url!: string;

  async start(): Promise<this> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/wegroup`;
    return this;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let verified = true;
    try {
      new Webhook(SECRET).verify(raw, request.headers as Record<string, string>);
    } catch {
      verified = false;
    }
    const body = JSON.parse(raw) as Json;
    const planned = this.answers.get(body.data?.external_ref?.external_ref)?.shift();
    const status = planned?.status ?? 200;
    this.received.push({ id: String(request.headers['webhook-id']), verified, body, raw, status, at: Date.now() });
    response.writeHead(status, { 'content-type': 'application/json', ...(planned?.headers ?? {}) });
    response.end(JSON.stringify(status < 300 ? { ok: true } : { detail: 'try later' }));
  }

  /** The events received about a lead (by its id), in order; each attempt counted. */
  about(leadId: string): Received[] {
    return this.received.filter((event) => event.body.data?.lead_id === leadId);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('lead events back to the source (Standard Webhooks, retried, replayable)', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let receiver: Receiver;
  let stack: Stack;

  beforeAll(async () => {
    sandbox = await startSandbox();
    control = new SandboxControl(sandbox.url);
    receiver = await new Receiver().start();
    const deadPort = await freePort();
    stack = await new Stack({
      name: 'lead-events',
      sandboxUrl: sandbox.url,
      env: {
        INTAKE_API_KEYS: `test-crm:${INTAKE_KEY},other-crm:${OTHER_SOURCE_KEY},quiet-crm:${QUIET_KEY}`,
        ALLOW_HTTP_URLS: 'true',
        // test-crm listens (and opts in to lead.retrying); other-crm's endpoint is dead (nothing listens on its port); quiet-crm has none.
        SOURCE_EVENTS: `test-crm=${receiver.url},other-crm=http://127.0.0.1:${deadPort}/events`,
        SOURCE_EVENT_SECRETS: `test-crm=${SECRET},other-crm=${DEAD_SECRET}`,
        SOURCE_EVENT_TYPES: 'test-crm=lead.delivered|lead.failed|lead.retrying|lead.erased',
        // The dead endpoint's 20 events fail 4 times each: below the breaker's threshold, so each ends failed within a second.
        CIRCUIT_BREAKER_THRESHOLD: '200',
      },
    }).start();
  });

  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
    await sandbox?.close();
  });

  const post = async (body: Json, key = INTAKE_KEY) => {
    const response = await stack.postLead(body, { 'x-api-key': key });
    expect(response.status).toBe(202);
    return ((await response.json()) as Json).id as string;
  };
  const ops = (path: string, init: RequestInit = {}) =>
    fetch(`${stack.url}${path}`, { ...init, headers: { authorization: OPS_AUTH, ...(init.body ? { 'content-type': 'application/json' } : {}) } });
  const statusOf = (leadId: string, key: string) =>
    waitFor(`lead ${leadId} to be delivered or failed`, async () => {
      const shown = await stack.lead(leadId, key);
      return ['delivered', 'failed'].includes(shown.status) ? shown : undefined;
    }, { timeoutMs: 60_000 });
  const eventOf = (leadId: string, type: string, state?: string, key = INTAKE_KEY) =>
    waitFor(`the ${type} event of lead ${leadId}${state ? ` to be ${state}` : ''}`, async () => {
      const found = (await stack.lead(leadId, key)).events?.find((event: Json) => event.type === type);
      return found && (!state || found.state === state) ? (found as Json) : undefined;
    });
  const receivedOf = (leadId: string, type: string, count = 1) =>
    waitFor(`${count} ${type} event(s) of lead ${leadId} at the endpoint`, async () => {
      const got = receiver.about(leadId).filter((event) => event.body.type === type);
      return got.length >= count ? got : undefined;
    });

  function expectNoProspectData(received: Received, sent: Json): void {
    expect(Object.keys(received.body.data).filter((key) => !DATA_KEYS.has(key))).toEqual([]);
    for (const field of ['first_name', 'last_name', 'email', 'telephonenr']) {
      const value = sent.prospect[field];
      if (typeof value === 'string' && value.length > 2) expect(received.raw).not.toContain(value);
    }
  }

  it("a delivered lead: the endpoint gets a verifiable lead.delivered with WeGroup's lead id, and GET /v1/leads/{id} shows it delivered", async () => {
    const body = lead({ distribution_id: distributionId() });
    const id = await post(body);
    const delivered = await stack.waitForStatus(id, ['delivered', 'failed']);
    expect(delivered.status).toBe('delivered');
    const [event] = await receivedOf(id, 'lead.delivered');
    expect(event.verified).toBe(true);
    expect(event.body).toEqual({
      type: 'lead.delivered',
      timestamp: expect.any(String),
      data: { lead_id: id, source: 'test-crm', external_ref: body.prospect.external_ref, wegroup: { status_code: 201, lead_id: delivered.wegroup.lead_id } },
    });
    expect(delivered.wegroup.lead_id).toEqual(expect.any(String));
    expect(event.id).toMatch(/^evt_[0-9a-f]{32}$/);
    expectNoProspectData(event, body);

    const shown = await eventOf(id, 'lead.delivered', 'delivered');
    expect(shown).toEqual({
      id: event.id,
      type: 'lead.delivered',
      state: 'delivered',
      attempts: 1,
      created_at: expect.any(String),
      delivered_at: expect.any(String),
      last_error: null,
      next_attempt_at: null,
      status_code: 200,
    });
  });

  it('a transient WeGroup failure sends lead.retrying (opt-in) with the next attempt time, then lead.delivered', async () => {
    const did = distributionId();
    await control.fault({ status: 503, count: 1, distribution_id: did });
    const body = lead({ distribution_id: did });
    const id = await post(body);
    const [retrying] = await receivedOf(id, 'lead.retrying');
    expect(retrying.body.data).toEqual({ lead_id: id, source: 'test-crm', external_ref: body.prospect.external_ref, reason: expect.stringContaining('503'), attempt: 1, next_attempt_at: expect.any(String) });
    await receivedOf(id, 'lead.delivered');
  });

  it('a permanent failure: the endpoint gets lead.failed with the reason, the attempts and that ops can retry it', async () => {
    const did = distributionId();
    await control.fault({ status: 400, count: 1, distribution_id: did, body: { detail: 'invalid vin' } });
    const body = lead({ distribution_id: did });
    const id = await post(body);
    expect((await stack.waitForStatus(id, ['delivered', 'failed'])).status).toBe('failed');
    const [event] = await receivedOf(id, 'lead.failed');
    expect(event.verified).toBe(true);
    expect(event.body.data).toEqual({ lead_id: id, source: 'test-crm', external_ref: body.prospect.external_ref, reason: 'WeGroup answered 400', attempts: 1, retryable: true });
    // WeGroup's own words can quote the prospect: they stay in the lead's sealed log, never in an event.
    expect(event.raw).not.toContain('invalid vin');
    expectNoProspectData(event, body);
  });

  it('the endpoint answering 503 for a while: the event is retried (Retry-After honoured) then delivered, while leads keep being delivered', async () => {
    const body = lead({ distribution_id: distributionId() });
    const ref = body.prospect.external_ref.external_ref as string;
    receiver.answers.set(ref, [1, 2, 3].map(() => ({ status: 503, headers: { 'retry-after': '1' } })));
    const id = await post(body);
    await receivedOf(id, 'lead.delivered', 1);
    const retrying = await eventOf(id, 'lead.delivered', 'retrying');
    expect(retrying).toMatchObject({ attempts: expect.any(Number), last_error: expect.stringContaining('Events endpoint answered 503'), status_code: 503 });

    // Meanwhile, other leads go to WeGroup as ever.
    const others = await Promise.all([1, 2, 3].map(() => post(lead({ distribution_id: distributionId() }))));
    const outcomes = await Promise.all(others.map((other) => stack.waitForStatus(other, ['delivered', 'failed'])));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['delivered', 'delivered', 'delivered']);
    const othersDoneAt = Date.now();

    const shown = await eventOf(id, 'lead.delivered', 'delivered');
    expect(shown).toMatchObject({ attempts: 4, status_code: 200, last_error: null });
    const attempts = receiver.about(id).filter((event) => event.body.type === 'lead.delivered');
    expect(attempts.map((attempt) => attempt.status)).toEqual([503, 503, 503, 200]);
    // One event, one id: a receiver deduplicates on webhook-id.
    expect(new Set(attempts.map((attempt) => attempt.id)).size).toBe(1);
    expect(attempts.every((attempt) => attempt.verified)).toBe(true);
    // Retry-After: 1 was honoured between attempts (the schedule alone says 0.1 s).
    for (let i = 1; i < attempts.length; i++) expect(attempts[i].at - attempts[i - 1].at).toBeGreaterThanOrEqual(900);
    expect(othersDoneAt).toBeLessThan(attempts[3].at);
  });

  it('a dead events endpoint does not slow lead deliveries (measured)', async () => {
    const timeBatch = async (key: string) => {
      const started = Date.now();
      const ids = await Promise.all(Array.from({ length: 20 }, () => post(lead({ distribution_id: distributionId() }), key)));
      const outcomes = await Promise.all(ids.map((id) => statusOf(id, key)));
      expect(outcomes.every((outcome) => outcome.status === 'delivered')).toBe(true);
      return { ms: Date.now() - started, ids };
    };
    const without = await timeBatch(QUIET_KEY);
    const withDead = await timeBatch(OTHER_SOURCE_KEY);
    console.log(`20 leads delivered in ${without.ms} ms without an events endpoint, in ${withDead.ms} ms with a dead one`);
    // The dead endpoint's events are stored and retried on their own queue; none reached anyone.
    const shown = await eventOf(withDead.ids[0], 'lead.delivered', undefined, OTHER_SOURCE_KEY);
    expect(['pending', 'sending', 'retrying', 'failed']).toContain(shown.state);
    expect(receiver.about(withDead.ids[0])).toEqual([]);
    const failed = await Promise.all(withDead.ids.map((id) => eventOf(id, 'lead.delivered', 'failed', OTHER_SOURCE_KEY)));
    expect(failed[0]).toMatchObject({ attempts: 4, status_code: null, last_error: expect.stringMatching(/^Events endpoint unreachable \(ECONNREFUSED\)/) });
    // quiet-crm has no endpoint: its leads have no events.
    expect((await stack.lead(without.ids[0], QUIET_KEY)).events).toEqual([]);
  });

  it('ops replay a failed event (same webhook-id), one by one and in bulk; a delivered or unknown one is refused', async () => {
    const body = lead({ distribution_id: distributionId() });
    receiver.answers.set(body.prospect.external_ref.external_ref, [{ status: 410 }]);
    const id = await post(body);
    const failed = await eventOf(id, 'lead.delivered', 'failed');
    expect(failed).toMatchObject({ attempts: 1, status_code: 410, last_error: expect.stringContaining('Events endpoint answered 410') });

    const replay = await ops(`/v1/events/${failed.id}/retry`, { method: 'POST' });
    expect(replay.status).toBe(202);
    expect(await replay.json()).toEqual({ id: failed.id, state: 'pending' });
    const delivered = await eventOf(id, 'lead.delivered', 'delivered');
    expect(delivered).toMatchObject({ id: failed.id, attempts: 1, status_code: 200 });
    const sent = receiver.about(id).filter((event) => event.body.type === 'lead.delivered');
    expect(sent.map((event) => [event.id, event.status])).toEqual([
      [failed.id, 410],
      [failed.id, 200],
    ]);

    const again = await ops(`/v1/events/${failed.id}/retry`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as Json).detail).toContain('is delivered');
    expect((await ops('/v1/events/evt_00000000000000000000000000000000/retry', { method: 'POST' })).status).toBe(404);

    // The dead endpoint's failed events, in bulk (they fail again, elsewhere: nothing listens).
    const bulk = await ops('/v1/events/retry', { method: 'POST', body: JSON.stringify({ source: 'other-crm', type: 'lead.delivered', limit: 5 }) });
    expect(bulk.status).toBe(200);
    expect(await bulk.json()).toEqual({ matched: 5, retried: 5 });
    const refused = await ops('/v1/events/retry', { method: 'POST', body: JSON.stringify({ limit: 5000 }) });
    expect(refused.status).toBe(400);
  });

  it("an erasure sends lead.erased with the source's reference only", async () => {
    const body = lead({ distribution_id: distributionId() });
    const id = await post(body);
    await stack.waitForStatus(id, ['delivered']);
    expect((await ops(`/v1/leads/${id}`, { method: 'DELETE' })).status).toBe(200);
    const [event] = await receivedOf(id, 'lead.erased');
    expect(event.verified).toBe(true);
    expect(event.body.data).toEqual({ lead_id: id, source: 'test-crm', external_ref: body.prospect.external_ref });
    expectNoProspectData(event, body);
    expect((await stack.lead(id)).events.map((shown: Json) => shown.type)).toEqual(['lead.delivered', 'lead.erased']);
  });
});
