import { readSandboxOptions } from './sandbox.app';

describe('readSandboxOptions', () => {
  it('has working defaults', () => {
    const options = readSandboxOptions({});
    expect(options).toMatchObject({ port: 3100, host: '0.0.0.0', delayMs: 0, maxRecords: 50_000, callbacks: [], callbackDelayMs: 200 });
    expect([...options.apiTokens]).toEqual([['sandbox-api-token', ['leads:write']]]);
    expect(options.bearerTokens.size).toBe(0);
  });

  it('reads every variable', () => {
    const options = readSandboxOptions({
      SANDBOX_PORT: '0',
      SANDBOX_HOST: '127.0.0.1',
      SANDBOX_API_TOKENS: ' a=leads:write|leads:read , b= ,c=vehicle:read',
      SANDBOX_BEARER_TOKENS: 'sso=api|openid|offline',
      SANDBOX_DELAY_MS: '25',
      SANDBOX_MAX_RECORDS: '10',
      SANDBOX_CALLBACKS: ' created , offer_sent',
      SANDBOX_CALLBACK_DELAY_MS: '0',
    });
    expect(options).toMatchObject({ port: 0, host: '127.0.0.1', delayMs: 25, maxRecords: 10, callbacks: ['created', 'offer_sent'], callbackDelayMs: 0 });
    expect([...options.apiTokens]).toEqual([
      ['a', ['leads:write', 'leads:read']],
      ['b', []],
      ['c', ['vehicle:read']],
    ]);
    expect([...options.bearerTokens]).toEqual([['sso', ['api', 'openid', 'offline']]]);
  });

  it.each([
    [{ SANDBOX_PORT: 'http' }, /^SANDBOX_PORT /],
    [{ SANDBOX_PORT: '70000' }, /^SANDBOX_PORT /],
    [{ SANDBOX_DELAY_MS: '-5' }, /^SANDBOX_DELAY_MS /],
    [{ SANDBOX_MAX_RECORDS: '0' }, /^SANDBOX_MAX_RECORDS /],
    [{ SANDBOX_HOST: 'a b' }, /^SANDBOX_HOST /],
    [{ SANDBOX_CALLBACKS: 'created,,offer_sent' }, /^SANDBOX_CALLBACKS entry 2 must be a status/],
    [{ SANDBOX_CALLBACKS: 'created,offer sent' }, /^SANDBOX_CALLBACKS entry 2 must be a status/],
    [{ SANDBOX_CALLBACKS: Array.from({ length: 21 }, (_, n) => `s${n}`).join(',') }, /^SANDBOX_CALLBACKS holds 21 statuses; at most 20/],
    [{ SANDBOX_CALLBACK_DELAY_MS: '-1' }, /^SANDBOX_CALLBACK_DELAY_MS /],
    [{ SANDBOX_CALLBACK_DELAY_MS: '600001' }, /^SANDBOX_CALLBACK_DELAY_MS /],
    [{ SANDBOX_API_TOKENS: 'secret-token' }, /^SANDBOX_API_TOKENS entry 1 has no "="/],
    [{ SANDBOX_API_TOKENS: 'a=leads:write,a=leads:read' }, /^SANDBOX_API_TOKENS entry 2 repeats/],
    [{ SANDBOX_API_TOKENS: 'a=leads:writ' }, /^SANDBOX_API_TOKENS entry 1 has unknown scope "leads:writ"/],
    [{ SANDBOX_API_TOKENS: 'a=api' }, /^SANDBOX_API_TOKENS entry 1 has scope "api", which WeGroup grants only to SSO/],
    [{ SANDBOX_BEARER_TOKENS: '=api' }, /^SANDBOX_BEARER_TOKENS entry 1 has an empty token/],
  ])('refuses %p', (env, message) => {
    expect(() => readSandboxOptions(env)).toThrow(message);
  });

  it('reads the introspection variables, all three or none', () => {
    expect(readSandboxOptions({}).introspection).toBeUndefined();
    expect(
      readSandboxOptions({
        SANDBOX_INTROSPECTION_URL: 'http://127.0.0.1:4000/token/introspection/',
        SANDBOX_INTROSPECTION_CLIENT_ID: 'wegroup-sandbox',
        SANDBOX_INTROSPECTION_CLIENT_SECRET: ' s3cret ',
      }).introspection,
    ).toEqual({ url: 'http://127.0.0.1:4000/token/introspection', clientId: 'wegroup-sandbox', clientSecret: 's3cret' });
  });

  it.each([
    [{ SANDBOX_INTROSPECTION_URL: 'http://idp/introspect' }, /^SANDBOX_INTROSPECTION_CLIENT_ID is required when SANDBOX_INTROSPECTION_URL is set/],
    [
      { SANDBOX_INTROSPECTION_URL: 'http://idp/introspect', SANDBOX_INTROSPECTION_CLIENT_ID: 'rs' },
      /^SANDBOX_INTROSPECTION_CLIENT_SECRET is required when SANDBOX_INTROSPECTION_URL and SANDBOX_INTROSPECTION_CLIENT_ID are set/,
    ],
    [{ SANDBOX_INTROSPECTION_CLIENT_SECRET: 'x' }, /^SANDBOX_INTROSPECTION_URL is required/],
    [{ SANDBOX_INTROSPECTION_URL: 'ftp://idp/x', SANDBOX_INTROSPECTION_CLIENT_ID: 'rs', SANDBOX_INTROSPECTION_CLIENT_SECRET: 'x' }, /^SANDBOX_INTROSPECTION_URL must use/],
    [{ SANDBOX_INTROSPECTION_URL: 'not a url', SANDBOX_INTROSPECTION_CLIENT_ID: 'rs', SANDBOX_INTROSPECTION_CLIENT_SECRET: 'x' }, /^SANDBOX_INTROSPECTION_URL is not a valid URL/],
  ])('refuses incomplete introspection settings %p', (env, message) => {
    expect(() => readSandboxOptions(env)).toThrow(message);
  });

  it('never puts the introspection secret into an error message', () => {
    expect(() => readSandboxOptions({ SANDBOX_INTROSPECTION_URL: 'nope', SANDBOX_INTROSPECTION_CLIENT_ID: 'rs', SANDBOX_INTROSPECTION_CLIENT_SECRET: 'very-secret' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('very-secret') }),
    );
  });

  it('never puts a token into an error message', () => {
    expect(() => readSandboxOptions({ SANDBOX_API_TOKENS: 'super-secret-value' })).toThrow(expect.objectContaining({ message: expect.not.stringContaining('super-secret') }));
  });
});
