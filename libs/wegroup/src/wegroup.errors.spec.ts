import { classifyStatus, parseRetryAfter, describeNetworkError, describeStatus, extractMessage, truncate } from './wegroup.errors';

describe('WeGroup answer classification', () => {
  it.each([200, 201, 202, 204])('%i is delivered', (status) => expect(classifyStatus(status)).toBe('delivered'));
  it.each([408, 425, 429, 500, 502, 503, 504, 507])('%i is transient', (status) => expect(classifyStatus(status)).toBe('transient'));
  it.each([301, 400, 401, 403, 404, 409, 410, 422, 501])('%i is permanent', (status) => expect(classifyStatus(status)).toBe('permanent'));

  it('explains 401 for API tokens without quoting the token', () => {
    expect(describeStatus(401, '{"detail":"Invalid token."}', 'apikey')).toBe(
      'WeGroup refused the API token (401): check WEGROUP_API_TOKEN: Invalid token.',
    );
  });

  it('records 403 as a permission or scope problem', () => {
    expect(describeStatus(403, null, 'apikey')).toMatch(/lack a scope/);
  });

  it("surfaces WeGroup's own error text from detail, message or raw bodies", () => {
    expect(extractMessage('{"detail":"bad vin"}')).toBe('bad vin');
    expect(extractMessage('{"message":"nope"}')).toBe('nope');
    expect(extractMessage('{"detail":[{"loc":["body","prospect"],"msg":"field required"}]}')).toBe(
      '[{"loc":["body","prospect"],"msg":"field required"}]',
    );
    expect(extractMessage('<html>  Bad   Gateway </html>')).toBe('<html> Bad Gateway </html>');
  });

  it('bounds stored bodies', () => {
    expect(truncate('x'.repeat(3000))).toHaveLength(2048 + '… (truncated)'.length);
    expect(truncate('')).toBeNull();
  });

  it('names network failures', () => {
    expect(describeNetworkError('ECONNABORTED', 'timeout of 100ms exceeded')).toMatch(/timeout/);
    expect(describeNetworkError('ECONNREFUSED', 'connect ECONNREFUSED')).toMatch(/refused the connection/);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('2')).toBe(2_000);
    const now = Date.parse('2026-11-27T10:00:00Z');
    expect(parseRetryAfter('Fri, 27 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(undefined)).toBeNull();
  });
});
