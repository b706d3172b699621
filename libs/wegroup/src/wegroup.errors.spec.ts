import { parseRetryAfter, describeErrorBody, describeNetworkError, describeStatus, extractMessage, maskValues, truncate, WeGroupError } from './wegroup.errors';

describe('WeGroup failures in words', () => {
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

  describe('the failure reason kept in clear (job failedReason, log lines)', () => {
    const failure = (status: number, body: string | null) =>
      new WeGroupError(describeStatus(status, body, 'apikey'), 'permanent', status, body, null, describeStatus(status, null, 'apikey'));

    it("says FastAPI's validation issues by location and message, never the input", () => {
      const body = JSON.stringify({
        detail: [
          { loc: ['body', 'prospect', 'first_name'], msg: 'field required', type: 'value_error.missing' },
          { loc: ['body', 'prospect', 'risk_objects', 'cars', 0, 'vin'], msg: 'ensure this value has at most 17 characters', type: 'value_error', input: 'WBA6L7100LFH65459XX', ctx: { limit_value: 17 } },
        ],
      });
      expect(failure(422, body).reason).toBe(
        'WeGroup answered 422: prospect.first_name: field required; prospect.risk_objects.cars.0.vin: ensure this value has at most 17 characters',
      );
      expect(failure(422, body).reason).not.toContain('WBA6L7100LFH65459');
    });

    it("keeps WeGroup's codes, never its free text (which can echo the prospect)", () => {
      const body = JSON.stringify({
        code: 409,
        detail: 'A prospect Marguerite Bar with phone +32470123456 already exists',
        domain: 'leads',
        error: 'CONFLICT',
        formatted: 'Marguerite Bar (marguerite@example.com) already exists',
        msg: 'PROSPECT_EXISTS',
        rpc_code: 'leads.conflict',
      });
      const { reason } = failure(409, body);
      expect(reason).toBe('WeGroup answered 409: PROSPECT_EXISTS, CONFLICT, 409, leads.conflict');
      expect(failure(401, '{"msg":"INVALID_TOKEN","detail":"Invalid token."}').reason).toBe('WeGroup refused the API token (401): check WEGROUP_API_TOKEN: INVALID_TOKEN');
      expect(failure(503, '{"detail":"busy; Marguerite"}').reason).toBe('WeGroup answered 503');
    });

    it('masks quoted text, URLs and number-like words, keeps ordinary words and short numbers', () => {
      expect(maskValues(`prospect 'Foo Bar' doesn't exist`)).toBe("prospect … doesn't exist");
      expect(maskValues('backref "https://crm.example.com/p/1" refused at https://x.example/y')).toBe('backref … refused at …');
      expect(maskValues('vin WBA6L7100LFH65459 invalid, born 1990-01-31, fault 503')).toBe('vin … invalid, born …, fault 503');
    });

    it('quotes nothing from bodies that are not JSON objects, and stays bounded', () => {
      expect(describeErrorBody('<html>Bad Gateway for Foo Bar</html>')).toBeNull();
      expect(describeErrorBody('["a"]')).toBeNull();
      expect(failure(502, '<html>Bad Gateway</html>').reason).toBe('WeGroup answered 502');
      const many = JSON.stringify({ detail: Array.from({ length: 100 }, (_, i) => ({ loc: ['body', 'prospect', `field_${i}`], msg: 'field required' })) });
      expect(failure(422, many).reason.length).toBeLessThanOrEqual(300);
    });
  });
});
