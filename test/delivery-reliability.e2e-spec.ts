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
import { waitFor } from './support/wait';


type Json = Record<string, any>;

describe('delivery you can trust: retries, Retry-After, idempotency, dead letters and replay', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;

  beforeAll(async () => ({ sandbox, control, stack } = await startStackWithSandbox('reliability')));
  afterAll(() => stopStackWithSandbox({ sandbox, stack }));

  const post = async (body: Json, headers: Record<string, string> = {}) => {
    const response = await stack.postLead(body, headers);
    return { status: response.status, headers: response.headers, body: (await response.json()) as Json };
  };

  const ops = (path: string, init: RequestInit = {}) =>
    fetch(`${stack.url}${path}`, {
      ...init,
      headers: { authorization: OPS_AUTH, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
    });

  it('5xx twice, then 201: delivered on attempt 3, and the log shows both failures with their delays', async () => {
    const did = distributionId();
    await control.fault({ status: 503, count: 1, distribution_id: did, body: { detail: 'maintenance' } });
    await control.fault({ status: 500, count: 1, distribution_id: did });
    const { body } = await post(lead({ distribution_id: did }));
    const delivered = await stack.waitForStatus(body.id, ['delivered', 'failed']);
    expect(delivered).toMatchObject({ status: 'delivered', attempts: 3, next_attempt_at: null, last_error: null });
    expect(delivered.attempts_log.map((e: Json) => [e.attempt, e.outcome, e.status_code])).toEqual([
      [1, 'transient', 503],
      [2, 'transient', 500],
      [3, 'delivered', 201],
    ]);
    expect(delivered.attempts_log[0]).toMatchObject({ error: 'WeGroup answered 503: maintenance', next_delay_ms: expect.any(Number) });
    expect(delivered.attempts_log[2].next_delay_ms).toBeNull();
    expect((await control.requests(did)).map((r) => r.status)).toEqual([503, 500, 201]);
  });

  it('a 400 fails the lead after exactly one request, and keeps the history', async () => {
    const did = distributionId();
    await control.fault({ status: 400, count: 1, distribution_id: did, body: { detail: 'invalid vin' } });
    const { body } = await post(lead({ distribution_id: did }));
    const failed = await stack.waitForStatus(body.id, ['delivered', 'failed']);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, last_error: 'WeGroup answered 400: invalid vin' });
    expect(failed.attempts_log).toEqual([expect.objectContaining({ attempt: 1, outcome: 'permanent', status_code: 400, next_delay_ms: null })]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await control.requests(did)).toHaveLength(1);
  });

  it('a 429 with Retry-After: 2 pauses every delivery for 2 s without spending the attempt', async () => {
    const limited = distributionId();
    const other = distributionId();
    await control.fault({ status: 429, count: 1, distribution_id: limited, headers: { 'Retry-After': '2' } });
    const first = await post(lead({ distribution_id: limited }));
    await waitFor('the 429', async () => (await control.requests(limited)).length === 1);
    // Another lead posted during the pause must wait too: the token is rate-limited, not the lead.
    const second = await post(lead({ distribution_id: other }));
    const [a, b] = await Promise.all([stack.waitForStatus(first.body.id, ['delivered', 'failed']), stack.waitForStatus(second.body.id, ['delivered', 'failed'])]);
    expect(a).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(a.attempts_log.map((e: Json) => e.outcome)).toEqual(['rate_limited', 'delivered']);
    expect(a.attempts_log[0]).toMatchObject({ status_code: 429, next_delay_ms: 2000 });
    expect(b).toMatchObject({ status: 'delivered' });

    const [refused, retried] = await control.requests(limited);
    const [otherRequest] = await control.requests(other);
    const pauseEnds = Date.parse(refused.answered_at) + 2000;
    expect(Date.parse(retried.received_at)).toBeGreaterThanOrEqual(pauseEnds - 50);
    expect(Date.parse(otherRequest.received_at)).toBeGreaterThanOrEqual(pauseEnds - 50);
  });

  it('100 parallel posts with one Idempotency-Key make one job and one delivery', async () => {
    const did = distributionId();
    const body = lead({ distribution_id: did });
    const answers = await Promise.all(Array.from({ length: 100 }, () => post(body, { 'idempotency-key': `order-${did}` })));
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    const replays = answers.filter((a) => a.status === 200);
    expect(replays).toHaveLength(99);
    expect(replays.every((a) => a.headers.get('idempotent-replayed') === 'true')).toBe(true);
    const [id] = ids;
    await stack.waitForStatus(id, ['delivered', 'failed']);
    await stack.waitUntilDrained();
    expect(await control.requests(did)).toHaveLength(1);

    const replay = await post(body, { 'idempotency-key': `order-${did}` });
    expect(replay).toMatchObject({ status: 200, body: { id, status: 'delivered' } });
  });

  it('the same key with a different body is a 409 that says so', async () => {
    const did = distributionId();
    const first = await post(lead({ distribution_id: did }), { 'idempotency-key': `k-${did}` });
    expect(first.status).toBe(202);
    const conflict = await post(lead({ distribution_id: did }, { first_name: 'Other' }), { 'idempotency-key': `k-${did}` });
    expect(conflict.status).toBe(409);
    expect(conflict.body.detail).toMatch(/Idempotency-Key was already used for lead .* with a different body/);
  });

  it('without the header, the prospect external_ref identifies a repeat; key order does not matter', async () => {
    const did = distributionId();
    const body = lead({ distribution_id: did }, { external_ref: { external_ref: `crm-${did}`, external_ref_company: 'acme' } });
    const first = await post(body);
    const reordered = { prospect: body.prospect, backref: body.backref, distribution_id: did, origin: body.origin };
    const again = await post(reordered);
    expect(first.status).toBe(202);
    expect(again).toMatchObject({ status: 200, body: { id: first.body.id } });
    const { body: unrelated } = await post(lead({ distribution_id: did }, { external_ref: { external_ref: `crm-other-${did}` } }));
    expect(unrelated.id).not.toBe(first.body.id);
  });

  it('refuses an Idempotency-Key over 255 characters, naming the header', async () => {
    const answer = await post(lead(), { 'idempotency-key': 'k'.repeat(256) });
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toEqual([{ field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }]);
  });

  it('ops can replay a failed lead with a fresh schedule; its history stays', async () => {
    const did = distributionId();
    await control.fault({ status: 422, count: 1, distribution_id: did, body: { detail: 'unknown distribution setting' } });
    const { body } = await post(lead({ distribution_id: did }));
    await stack.waitForStatus(body.id, ['failed']);

    expect((await fetch(`${stack.url}/v1/leads/${body.id}/retry`, { method: 'POST', headers: { 'x-api-key': INTAKE_KEY } })).status).toBe(401);
    const retried = await ops(`/v1/leads/${body.id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(202);
    const delivered = await stack.waitForStatus(body.id, ['delivered']);
    expect(delivered.attempts_log.map((e: Json) => e.kind === 'replayed' ? 'replayed' : e.outcome)).toEqual(['permanent', 'replayed', 'delivered']);
    expect(delivered.attempts).toBe(1);

    const again = await ops(`/v1/leads/${body.id}/retry`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as Json).detail).toMatch(/Only failed leads can be retried/);
  });

  it('ops can re-queue failed leads in bulk by reason and time range, and says how many', async () => {
    const did = distributionId();
    const since = new Date().toISOString();
    await control.fault({ status: 410, count: 2, distribution_id: did, body: { detail: 'distribution archived' } });
    const ids = [];
    for (let i = 0; i < 2; i++) ids.push((await post(lead({ distribution_id: did }))).body.id);
    for (const id of ids) await stack.waitForStatus(id, ['failed']);

    const none = await ops('/v1/ops/leads/retry', { method: 'POST', body: JSON.stringify({ reason: 'archived', failed_before: since }) });
    expect(await none.json()).toEqual({ matched: 0, retried: 0 });
    const bad = await ops('/v1/ops/leads/retry', { method: 'POST', body: JSON.stringify({ failed_after: 'yesterday' }) });
    expect(bad.status).toBe(400);
    const some = await ops('/v1/ops/leads/retry', { method: 'POST', body: JSON.stringify({ reason: 'ARCHIVED', failed_after: since }) });
    expect(await some.json()).toEqual({ matched: 2, retried: 2 });
    for (const id of ids) await stack.waitForStatus(id, ['delivered']);
  });

  it('a retry from the dashboard leaves the status API consistent; delivered leads cannot be retried there', async () => {
    const did = distributionId();
    await control.fault({ status: 404, count: 1, distribution_id: did });
    const { body } = await post(lead({ distribution_id: did }));
    await stack.waitForStatus(body.id, ['failed']);
    const dashboardRetry = await ops(`/ops/queues/api/queues/leads/${body.id}/retry`, { method: 'PUT' });
    expect(dashboardRetry.status).toBeLessThan(300);
    const delivered = await stack.waitForStatus(body.id, ['delivered']);
    expect(delivered).toMatchObject({ last_error: null, wegroup: { status_code: 201 } });
    const again = await ops(`/ops/queues/api/queues/leads/${body.id}/retry`, { method: 'PUT' });
    expect(again.status).toBe(409);
    expect((await ops('/ops/queues/api/queues/leads/retry/completed', { method: 'PUT' })).status).toBe(409);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await control.requests(did)).filter((r) => r.status === 201)).toHaveLength(1);
  });
});

describe('an outage of WeGroup: the circuit breaker holds 500 leads back, then all are delivered once', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;

  beforeAll(async () => {
    ({ sandbox, control, stack } = await startStackWithSandbox('outage', {
      WORKER_CONCURRENCY: '20',
      CIRCUIT_BREAKER_THRESHOLD: '10',
      CIRCUIT_BREAKER_COOLDOWN_MS: '1000',
      DELIVERY_RETRY_SCHEDULE: '0.5,1,1,1,1,1,1',
    }));
  });
  afterAll(() => stopStackWithSandbox({ sandbox, stack }));

  it('opens the circuit, shows it to ops, and delivers every lead once WeGroup is back', async () => {
    const did = distributionId();
    await control.fault({ status: 503, count: 1_000_000, distribution_id: did });
    const ids: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => stack.postLead(lead({ distribution_id: did }, { email: `lead-${batch}-${i}@example.com` }))),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(202);
        ids.push(((await answer.json()) as Json).id);
      }
    }

    const opened = await waitFor('the circuit to open', async () => {
      const state = (await (await fetch(`${stack.url}/v1/ops/delivery`, { headers: { authorization: OPS_AUTH } })).json()) as Json;
      return state.circuit_breaker.state !== 'closed' ? state : undefined;
    });
    expect(opened.circuit_breaker.consecutive_failures).toBeGreaterThanOrEqual(10);
    // Held back, not hammering: far fewer requests than leads while WeGroup is down.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await control.requests(did)).length).toBeLessThan(200);

    await fetch(`${sandbox.url}/_sandbox/faults?distribution_id=${did}`, { method: 'DELETE' });
    await stack.waitUntilDrained(60_000);

    const statuses = await Promise.all(ids.map((id) => stack.lead(id)));
    expect(statuses.filter((s) => s.status !== 'delivered')).toEqual([]);
    const accepted = (await control.requests(did)).filter((r) => r.status === 201);
    expect(accepted).toHaveLength(500);
    expect(new Set(accepted.map((r) => r.body.prospect.email)).size).toBe(500);
    const state = (await (await fetch(`${stack.url}/v1/ops/delivery`, { headers: { authorization: OPS_AUTH } })).json()) as Json;
    expect(state.circuit_breaker).toMatchObject({ state: 'closed', consecutive_failures: 0 });
  });
});
