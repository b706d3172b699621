import { SANDBOX_DEFAULTS } from '@app/wegroup';
import { lead } from '../../../test/support/lead-fixtures';
import { startTestSandbox, type RunningSandbox } from './sandbox-http.test-helper';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const AUTH = { authorization: `apikey ${SANDBOX_DEFAULTS.apiToken}` };

let seq = 0;
const dist = (): string => `spec-dist-${process.pid}-${++seq}`;
const leadPath = (distributionId: string): string => `/v1/api/distributions/${encodeURIComponent(distributionId)}/leads/customers`;

/** The same lead on every call: the sandbox's records are compared with it. */
function validLead(): Record<string, unknown> {
  return lead({}, { email: 'foo.bar@example.com', external_ref: { external_ref: '123', external_ref_company: 'company' } });
}

describe('WeGroup sandbox lead endpoint', () => {
  let sandbox: RunningSandbox;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
  });

  afterAll(async () => {
    await sandbox?.close();
  });

  const push = (distributionId: string, body: unknown = validLead(), headers: Record<string, string> = AUTH) =>
    sandbox.call('POST', leadPath(distributionId), { headers, body });
  const requests = async (distributionId: string) =>
    (await sandbox.call('GET', `/_sandbox/requests?distribution_id=${encodeURIComponent(distributionId)}`)).json.requests;

  it('answers a valid push with 201, a uuid v4, and records request and lead', async () => {
    const did = dist();
    const response = await push(did, validLead(), { ...AUTH, 'X-Trace-Id': 'abc' });
    expect(response.status).toBe(201);
    expect(response.json).toEqual({ id: expect.stringMatching(UUID_V4), distribution_id: did, created_at: expect.any(String) });
    expect(new Date(response.json.created_at).toISOString()).toBe(response.json.created_at);

    const [record, ...rest] = await requests(did);
    expect(rest).toHaveLength(0);
    expect(record).toMatchObject({
      method: 'POST',
      path: leadPath(did),
      distribution_id: did,
      body: validLead(),
      outcome: 'answered',
      status: 201,
      lead_id: response.json.id,
      fault_id: null,
    });
    expect(record.seq).toEqual(expect.any(Number));
    expect(record.headers).toMatchObject({ authorization: AUTH.authorization, 'x-trace-id': 'abc', 'content-type': 'application/json' });

    const leads = (await sandbox.call('GET', `/_sandbox/leads?distribution_id=${did}`)).json.leads;
    expect(leads).toEqual([{ id: response.json.id, distribution_id: did, body: validLead(), created_at: response.json.created_at }]);
  });

  it('accepts content types with parameters, a case-insensitive scheme, and long distribution ids', async () => {
    const did = `x${'a'.repeat(127)}`;
    const response = await push(did, validLead(), { authorization: `ApiKey ${SANDBOX_DEFAULTS.apiToken}`, 'content-type': 'application/json; charset=utf-8' });
    expect(response.status).toBe(201);
    expect(response.json.distribution_id).toBe(did);
  });

  it('answers 401 without credentials, with an unknown scheme or an unknown token, and records them', async () => {
    const did = dist();
    const missing = await push(did, validLead(), {});
    expect(missing.status).toBe(401);
    expect(missing.json).toEqual({ detail: 'Authentication credentials were not provided.' });
    for (const authorization of [`Token ${SANDBOX_DEFAULTS.apiToken}`, 'apikey not-a-token', `bearer ${SANDBOX_DEFAULTS.apiToken}`, 'apikey', 'apikey a b']) {
      const refused = await push(did, validLead(), { authorization });
      expect(refused.status).toBe(401);
      expect(refused.json).toEqual({ detail: 'Invalid token.' });
    }
    expect((await requests(did)).map((r: { status: number }) => r.status)).toEqual([401, 401, 401, 401, 401, 401]);
  });

  it('answers 403 for a token without leads:write, and accepts bearer tokens with leads:write or api', async () => {
    const did = dist();
    const control = (body: unknown) => sandbox.call('POST', '/_sandbox/tokens', { body });
    expect((await control({ scheme: 'apikey', token: 'spec-read-only', scopes: ['leads:read'] })).status).toBe(201);
    expect((await control({ scheme: 'bearer', token: 'spec-sso-api', scopes: ['openid', 'api'] })).status).toBe(201);
    expect((await control({ scheme: 'bearer', token: 'spec-sso-none', scopes: [] })).status).toBe(201);

    const forbidden = await push(did, validLead(), { authorization: 'apikey spec-read-only' });
    expect(forbidden.status).toBe(403);
    expect(forbidden.json).toEqual({ detail: 'Missing required scope: leads:write' });
    expect((await push(did, validLead(), { authorization: 'Bearer spec-sso-none' })).status).toBe(403);
    expect((await push(did, validLead(), { authorization: 'Bearer spec-sso-api' })).status).toBe(201);

    expect((await sandbox.call('DELETE', '/_sandbox/tokens/spec-sso-api')).json).toEqual({ deleted: 1 });
    expect((await push(did, validLead(), { authorization: 'Bearer spec-sso-api' })).status).toBe(401);
    expect((await sandbox.call('DELETE', '/_sandbox/tokens/spec-sso-api')).status).toBe(404);
  });

  it('answers 415 for another content type, and records the raw text', async () => {
    const did = dist();
    const response = await push(did, 'first_name=Foo', { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' });
    expect(response.status).toBe(415);
    expect(response.json.detail).toMatch(/application\/x-www-form-urlencoded/);
    expect((await requests(did))[0]).toMatchObject({ status: 415, body: 'first_name=Foo' });
  });

  it('answers 422 for invalid JSON and records the raw text', async () => {
    const did = dist();
    const response = await push(did, '{"prospect":', AUTH);
    expect(response.status).toBe(422);
    expect(response.json.detail).toEqual([expect.objectContaining({ type: 'value_error.jsondecode', loc: expect.arrayContaining(['body']) })]);
    expect((await requests(did))[0]).toMatchObject({ status: 422, body: '{"prospect":' });
  });

  it('answers 422 listing every invalid field, extra top-level fields included', async () => {
    const did = dist();
    const response = await push(did, {
      origin: 42,
      backref: 'not a url',
      distribution_id: did,
      prospect: {
        last_name: '  ',
        callbacks: ['https://ok.example.com/cb', 'ftp://x.example.com/cb'],
        external_ref: { external_ref_company: 'c' },
        risk_objects: [],
        email: 'kept@example.com',
      },
    });
    expect(response.status).toBe(422);
    expect(response.json.detail).toEqual([
      { loc: ['body', 'origin'], msg: 'str type expected', type: 'type_error.str' },
      { loc: ['body', 'backref'], msg: 'invalid or missing URL scheme', type: 'value_error.url.scheme' },
      { loc: ['body', 'prospect', 'first_name'], msg: 'field required', type: 'value_error.missing' },
      {
        loc: ['body', 'prospect', 'last_name'],
        msg: 'ensure this value has at least 1 characters',
        type: 'value_error.any_str.min_length',
        ctx: { limit_value: 1 },
      },
      {
        loc: ['body', 'prospect', 'callbacks', 1],
        msg: 'URL scheme not permitted',
        type: 'value_error.url.scheme',
        ctx: { allowed_schemes: ['http', 'https'] },
      },
      { loc: ['body', 'prospect', 'external_ref', 'external_ref'], msg: 'field required', type: 'value_error.missing' },
      { loc: ['body', 'prospect', 'risk_objects'], msg: 'value is not a valid dict', type: 'type_error.dict' },
      { loc: ['body', 'distribution_id'], msg: 'extra fields not permitted', type: 'value_error.extra' },
    ]);
    expect((await requests(did))[0]).toMatchObject({ status: 422, lead_id: null });
    expect((await sandbox.call('GET', `/_sandbox/leads?distribution_id=${did}`)).json.leads).toEqual([]);
  });

  it('answers 413 above 1 MB and still records the request', async () => {
    const did = dist();
    const big = validLead();
    (big.prospect as Record<string, unknown>).notes = 'x'.repeat(1024 * 1024);
    const response = await push(did, big);
    expect(response.status).toBe(413);
    expect((await requests(did))[0]).toMatchObject({ status: 413, body: null, outcome: 'answered' });
  });

  it('adds the global delay to lead answers', async () => {
    expect((await sandbox.call('PUT', '/_sandbox/behaviour', { body: { delay_ms: 150 } })).json).toMatchObject({ delay_ms: 150 });
    try {
      const started = Date.now();
      expect((await push(dist())).status).toBe(201);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    } finally {
      await sandbox.call('PUT', '/_sandbox/behaviour', { body: { delay_ms: 0 } });
    }
    expect((await sandbox.call('GET', '/_sandbox/behaviour')).json).toEqual({ delay_ms: 0, max_records: 50_000, callbacks: [], callback_delay_ms: 200 });
  });

  it('answers GET /health', async () => {
    const response = await sandbox.call('GET', '/health');
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ status: 'ok' });
  });
});
