import { SANDBOX_DEFAULTS } from '@app/wegroup';
import { lead } from '../../../test/support/lead-fixtures';
import { call, startTestSandbox, type RunningSandbox } from './sandbox-http.test-helper';

const AUTH = { authorization: `apikey ${SANDBOX_DEFAULTS.apiToken}` };
const LEAD = lead();

let seq = 0;
const dist = (): string => `ctl-dist-${process.pid}-${++seq}`;
const leadPath = (distributionId: string): string => `/v1/api/distributions/${distributionId}/leads/customers`;

describe('WeGroup sandbox control API', () => {
  let sandbox: RunningSandbox;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
  });

  afterAll(async () => {
    await sandbox?.close();
  });

  const push = (distributionId: string) => sandbox.call('POST', leadPath(distributionId), { headers: AUTH, body: LEAD });
  const fault = (body: unknown) => sandbox.call('POST', '/_sandbox/faults', { body });
  const requests = async (query = '') => (await sandbox.call('GET', `/_sandbox/requests${query}`)).json.requests;

  it('plays queued faults in order, passes headers through, then lets requests succeed', async () => {
    const did = dist();
    const first = await fault({ status: 503, count: 2, headers: { 'Retry-After': '2' }, distribution_id: did });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ id: expect.any(String), mode: 'respond', status: 503, count: 2, remaining: 2, distribution_id: did, delay_ms: null });
    await fault({ status: 429, body: { detail: 'Request was throttled.' }, distribution_id: did });
    await fault({ status: 500, body: 'upstream exploded', distribution_id: did });

    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await push(did));
    expect(answers.map((a) => a.status)).toEqual([503, 503, 429, 500, 201]);
    expect(answers[0].headers['retry-after']).toBe('2');
    expect(answers[1].headers['retry-after']).toBe('2');
    expect(answers[0].json).toEqual({ detail: 'Injected fault 503' });
    expect(answers[2].json).toEqual({ detail: 'Request was throttled.' });
    expect(answers[2].headers['retry-after']).toBeUndefined();
    expect(answers[3].text).toBe('upstream exploded');
    expect(answers[3].headers['content-type']).toMatch(/^text\/plain/);

    const records = await requests(`?distribution_id=${did}`);
    expect(records.map((r: { status: number }) => r.status)).toEqual([503, 503, 429, 500, 201]);
    expect(records[0].fault_id).toBe(first.json.id);
    expect(records[4].fault_id).toBeNull();
    expect(records.map((r: { seq: number }) => r.seq)).toEqual([...records.map((r: { seq: number }) => r.seq)].sort((a, b) => a - b));
  });

  it('answers faults before checking credentials, and only for their own distribution', async () => {
    const mine = dist();
    const other = dist();
    await fault({ status: 502, distribution_id: mine });
    expect((await push(other)).status).toBe(201);
    expect((await sandbox.call('POST', leadPath(mine), { body: LEAD })).status).toBe(502);
    expect((await sandbox.call('POST', leadPath(mine), { body: LEAD })).status).toBe(401);
  });

  it('resets the connection in reset mode (a network error for the client), and records it', async () => {
    const did = dist();
    const rule = await fault({ mode: 'reset', distribution_id: did });
    expect(rule.status).toBe(201);
    await expect(push(did)).rejects.toMatchObject({ code: expect.stringMatching(/^(ECONNRESET|EPIPE)$/) });
    expect((await push(did)).status).toBe(201);
    const records = await requests(`?distribution_id=${did}`);
    expect(records.map((r: { outcome: string; status: number | null }) => [r.outcome, r.status])).toEqual([
      ['reset', null],
      ['answered', 201],
    ]);
    expect(records[0].body).toEqual(LEAD);
  });

  it('waits the delay of a fault', async () => {
    const did = dist();
    await fault({ status: 504, delay_ms: 200, distribution_id: did });
    const started = Date.now();
    expect((await push(did)).status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('lists and deletes faults, all or per distribution', async () => {
    const a = dist();
    const b = dist();
    await fault({ status: 503, count: 3, distribution_id: a });
    await fault({ status: 503, distribution_id: b });
    await fault({ status: 503, distribution_id: `${a}x` });
    const listed = (await sandbox.call('GET', '/_sandbox/faults')).json.faults;
    expect(listed.filter((f: { distribution_id: string }) => [a, b, `${a}x`].includes(f.distribution_id))).toHaveLength(3);
    expect((await sandbox.call('DELETE', `/_sandbox/faults?distribution_id=${a}`)).json).toEqual({ deleted: 1 });
    expect((await push(a)).status).toBe(201);
    expect((await push(b)).status).toBe(503);
    expect((await sandbox.call('DELETE', '/_sandbox/faults')).json.deleted).toBeGreaterThanOrEqual(1);
    expect((await sandbox.call('GET', '/_sandbox/faults')).json).toEqual({ faults: [] });
    expect((await push(`${a}x`)).status).toBe(201);
  });

  it('refuses invalid control bodies with 400 and a clear message', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /status is required/],
      [{ status: 42 }, /status must be an integer between 200 and 599/],
      [{ status: 503, count: 0 }, /count must be an integer/],
      [{ status: 503, delay_ms: -1 }, /delay_ms must be an integer/],
      [{ status: 503, headers: { 'Bad Header': 'x' } }, /not a valid header name/],
      [{ status: 503, headers: { 'Retry-After': 'a\r\nb' } }, /line breaks/],
      [{ status: 503, retry: true }, /unknown field "retry"/],
      [{ mode: 'reset', status: 503 }, /left out with mode "reset"/],
      [{ mode: 'drop' }, /mode must be/],
      [{ status: 503, distribution_id: '' }, /distribution_id must be a non-empty string/],
      [[1], /JSON object/],
      ['{"status":', /not valid JSON/],
    ];
    for (const [body, message] of cases) {
      const response = await fault(body);
      expect(response.status).toBe(400);
      expect(response.json.detail).toMatch(message);
    }
    expect((await sandbox.call('PUT', '/_sandbox/behaviour', { body: { delay_ms: 'slow' } })).status).toBe(400);
    expect((await sandbox.call('PUT', '/_sandbox/behaviour', { body: {} })).json.detail).toMatch(/delay_ms .*, callbacks or callback_delay_ms is required/);
    const badCallbacks = await sandbox.call('PUT', '/_sandbox/behaviour', { body: { callbacks: 'created', callback_delay_ms: -1 } });
    expect(badCallbacks.json.errors).toEqual(['callback_delay_ms must be an integer between 0 and 600000', 'callbacks must be an array of statuses (empty: no callbacks)']);
    expect((await sandbox.call('PUT', '/_sandbox/behaviour', { body: { callbacks: ['created', 'offer sent'] } })).json.detail).toMatch(/callbacks entry 2 must be a status/);
    expect((await sandbox.call('POST', '/_sandbox/tokens', { body: { scheme: 'apikey', token: 't', scopes: ['api'] } })).json.detail).toMatch(
      /only to SSO/,
    );
    expect((await sandbox.call('POST', '/_sandbox/tokens', { body: { scheme: 'basic', token: 'a b', scopes: 'x' } })).json.errors).toHaveLength(3);
    expect((await sandbox.call('GET', '/_sandbox/requests?distribution_id=')).status).toBe(400);
  });

  it('accepts a control body sent without a JSON content type (curl -d)', async () => {
    const did = dist();
    const response = await sandbox.call('POST', '/_sandbox/faults', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: JSON.stringify({ status: 503, distribution_id: did }),
    });
    expect(response.status).toBe(201);
    expect((await push(did)).status).toBe(503);
  });

  it('filters requests and leads by exact distribution id, and deletes per distribution', async () => {
    const a = dist();
    const ab = `${a}b`;
    await push(a);
    await push(ab);
    await push(a);
    expect((await requests(`?distribution_id=${a}`)).map((r: { distribution_id: string }) => r.distribution_id)).toEqual([a, a]);
    expect((await requests(`?distribution_id=${ab}`))).toHaveLength(1);
    expect((await sandbox.call('GET', `/_sandbox/leads?distribution_id=${a}`)).json.leads).toHaveLength(2);
    expect((await sandbox.call('DELETE', `/_sandbox/requests?distribution_id=${a}`)).json).toEqual({ deleted: 2 });
    expect(await requests(`?distribution_id=${a}`)).toEqual([]);
    expect(await requests(`?distribution_id=${ab}`)).toHaveLength(1);
    expect((await sandbox.call('DELETE', `/_sandbox/leads?distribution_id=${ab}`)).json).toEqual({ deleted: 1 });
    const all = await requests();
    expect(all.length).toBeGreaterThan(1);
  });
});

describe('WeGroup sandbox bounds and options', () => {
  it('keeps only the newest maxRecords requests and leads, uses the given tokens', async () => {
    const sandbox = await startTestSandbox({ maxRecords: 3, apiTokens: new Map([['own-token', ['leads:write']]]) });
    try {
      const did = 'bounded';
      for (let i = 0; i < 5; i++) {
        const response = await call(sandbox.base, 'POST', leadPath(did), { headers: { authorization: 'apikey own-token' }, body: LEAD });
        expect(response.status).toBe(201);
      }
      const records = (await sandbox.call('GET', '/_sandbox/requests')).json.requests;
      expect(records.map((r: { seq: number }) => r.seq)).toEqual([3, 4, 5]);
      expect((await sandbox.call('GET', '/_sandbox/leads')).json.leads).toHaveLength(3);
      const refused = await call(sandbox.base, 'POST', leadPath(did), { headers: AUTH, body: LEAD });
      expect(refused.status).toBe(401);
    } finally {
      await sandbox.close();
    }
  });
});
