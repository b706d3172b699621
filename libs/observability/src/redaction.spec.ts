import { isSensitiveKey, REDACTED, redactHeaders, redactLogObject, redactUrl, scrubText } from './redaction';

describe('redaction', () => {
  it('hides credentials by key name, whatever the case or the words around them', () => {
    for (const key of ['Authorization', 'x-api-key', 'apiKey', 'cookie', 'set-cookie', 'webhook-signature', 'access_token', 'refreshToken', 'client_secret', 'WEGROUP_SSO_CLIENT_SECRET', 'password', 'idempotency-key']) {
      expect([key, isSensitiveKey(key)]).toEqual([key, true]);
    }
    for (const key of ['lead_id', 'request_id', 'source', 'status_code', 'distribution_id', 'context']) {
      expect([key, isSensitiveKey(key)]).toEqual([key, false]);
    }
  });

  it('hides the lead and prospect fields at any depth, and keeps the rest', () => {
    const logged = redactLogObject({
      lead_id: 'l-1',
      attempt: { status_code: 422, prospect: { first_name: 'Ada' } },
      list: [{ email: 'ada@example.com', kept: 1 }],
      lead: { prospect: { last_name: 'Lovelace' } },
      nested: { deeper: { token: 'tok-123', fine: true } },
    });
    expect(logged).toEqual({
      lead_id: 'l-1',
      attempt: { status_code: 422, prospect: REDACTED },
      list: [{ email: REDACTED, kept: 1 }],
      lead: REDACTED,
      nested: { deeper: { token: REDACTED, fine: true } },
    });
    expect(JSON.stringify(logged)).not.toMatch(/Ada|Lovelace|tok-123/);
  });

  it('leaves class instances to their serializers', () => {
    const error = new Error('x');
    expect(redactLogObject({ err: error }).err).toBe(error);
  });

  it('scrubs credentials out of free text', () => {
    expect(scrubText('Authorization: apikey sandbox-api-token-123456 was refused')).toBe(`Authorization: apikey ${REDACTED} was refused`);
    expect(scrubText('Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig')).toBe(`Bearer ${REDACTED}`);
    expect(scrubText('secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw and v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')).toBe(
      `secret whsec_${REDACTED} and v1,${REDACTED}`,
    );
    expect(scrubText('/cb?code=abc123&state=xyz&client_secret=s3')).toBe(`/cb?code=${REDACTED}&state=${REDACTED}&client_secret=${REDACTED}`);
    expect(scrubText('use basic auth with OPS_USERNAME')).toBe('use basic auth with OPS_USERNAME');
    expect(scrubText('WeGroup answered 503 (status_code=503)')).toBe('WeGroup answered 503 (status_code=503)');
  });

  it('scrubs key=value names whole: prefixes and suffixes as before, nothing inside a name', () => {
    expect(scrubText('x-access_token=abc -token=d oauth-code=e my_code=f Code=g')).toBe(
      `x-access_token=${REDACTED} -token=${REDACTED} oauth-code=${REDACTED} my_code=f Code=${REDACTED}`,
    );
    expect(scrubText('barcode=1 statement=2 decoder=3')).toBe('barcode=1 statement=2 decoder=3');
  });

  it('takes time linear in the text: a hostile path costs about what a plain one of the same length does', () => {
    // `a-a-a-…` has a word boundary every two characters; the former pattern tried a name from
    // each of them to the end of the run (quadratic). A ratio, so the machine's speed does not matter.
    const length = 8_000;
    const hostile = `/v1/leads/${'a-'.repeat(length / 2)}`;
    const plain = `/v1/leads/${'a'.repeat(length)}`;
    const cost = (text: string) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < 20; i++) scrubText(text);
      return Number(process.hrtime.bigint() - start);
    };
    cost(hostile);
    cost(plain);
    const ratios = [0, 1, 2].map(() => cost(hostile) / Math.max(cost(plain), 1));
    expect(Math.min(...ratios)).toBeLessThan(10);
    // And bounded: a text far beyond any log line is cut before it is scrubbed.
    const huge = scrubText(`token=${'x'.repeat(100_000)}`);
    expect(huge).toBe(`token=${REDACTED} …[${100_006 - 16 * 1024} more characters]`);
  });

  it('hides the query values of the URLs in Referer and HX-Current-URL', () => {
    expect(redactHeaders({ referer: 'https://intake.example/ops/leads?external_ref=4711', 'hx-current-url': 'http://127.0.0.1/ops/leads?source=a&external_ref=x' })).toEqual({
      referer: `https://intake.example/ops/leads?external_ref=${REDACTED}`,
      'hx-current-url': `http://127.0.0.1/ops/leads?source=${REDACTED}&external_ref=${REDACTED}`,
    });
  });

  it('hides credential headers and every query value', () => {
    expect(redactHeaders({ 'x-api-key': 'k', authorization: 'Basic abc', 'user-agent': 'curl', 'x-request-id': 'r-1' })).toEqual({
      'x-api-key': REDACTED,
      authorization: REDACTED,
      'user-agent': 'curl',
      'x-request-id': 'r-1',
    });
    expect(redactUrl('/v1/connections/sso/callback?code=abc&state=def')).toBe(`/v1/connections/sso/callback?code=${REDACTED}&state=${REDACTED}`);
    expect(redactUrl('/v1/leads')).toBe('/v1/leads');
  });

  it("hides the token of a WeGroup callback URL, the only proof such a call has", () => {
    const token = 'q3Jd0rP5o1m3R9WcZ2x8hQ7nV4bK6tY1uE0sA5fL2gI';
    expect(redactUrl(`/v1/callbacks/wegroup/lead-1/${token}`)).toBe(`/v1/callbacks/wegroup/lead-1/${REDACTED}`);
    expect(redactUrl(`/v1/callbacks/wegroup/lead-1/${token}?x=1`)).toBe(`/v1/callbacks/wegroup/lead-1/${REDACTED}?x=${REDACTED}`);
    expect(redactUrl('/v1/callbacks/other/lead-1/abc')).toBe('/v1/callbacks/other/lead-1/abc');
  });
});
