import { decideEventAttempt, EventDecisionContext } from './event-delivery-policy';

const context = (attempt = 1, attempts = 4): EventDecisionContext => ({ attempt, attempts, retry: { scheduleMs: [1000, 2000, 3000] }, breakerCooldownMs: 60_000, random: () => 0.5 });
const answered = (statusCode: number, retryAfterMs: number | null = null, body: string | null = null) => ({ type: 'answered' as const, statusCode, retryAfterMs, body });

describe('what an events endpoint answer comes to', () => {
  it.each([200, 201, 202, 204])('%s: delivered', (status) => {
    expect(decideEventAttempt(answered(status), context())).toEqual({ type: 'delivered', statusCode: status });
  });

  it.each([408, 425, 429, 500, 502, 503, 504])('%s: retried on the schedule', (status) => {
    expect(decideEventAttempt(answered(status), context(2))).toMatchObject({ type: 'retry', delayMs: 2000, statusCode: status, reason: `Events endpoint answered ${status}` });
  });

  it.each([400, 401, 403, 404, 410, 422, 301, 501])('%s: failed at once (no attempt will do better)', (status) => {
    expect(decideEventAttempt(answered(status), context())).toMatchObject({ type: 'fail', statusCode: status, transient: false });
  });

  it('a transient failure on the last attempt fails the event', () => {
    expect(decideEventAttempt(answered(503), context(4))).toMatchObject({ type: 'fail', transient: true, reason: 'Events endpoint answered 503 (no attempt left of 4)' });
  });

  it('honours Retry-After: never sooner; a 5xx capped at the breaker cool-down, a 429 up to an hour', () => {
    expect(decideEventAttempt(answered(503, 30_000), context())).toMatchObject({ type: 'retry', delayMs: 30_000, retryAfterMs: 30_000 });
    expect(decideEventAttempt(answered(503, 500), context())).toMatchObject({ type: 'retry', delayMs: 1000 });
    expect(decideEventAttempt(answered(503, 86_400_000), context())).toMatchObject({ type: 'retry', delayMs: 60_000 });
    expect(decideEventAttempt(answered(429, 86_400_000), context())).toMatchObject({ type: 'retry', delayMs: 3_600_000 });
  });

  it('no answer (refused, timed out) is transient', () => {
    expect(decideEventAttempt({ type: 'unreachable', code: 'ECONNREFUSED', timedOut: false }, context())).toMatchObject({ type: 'retry', reason: 'Events endpoint unreachable (ECONNREFUSED)', statusCode: null });
    expect(decideEventAttempt({ type: 'unreachable', code: 'ECONNABORTED', timedOut: true }, context())).toMatchObject({ type: 'retry', reason: 'Events endpoint did not answer in time' });
  });

  it("an open breaker holds the event without spending an attempt, until it may probe", () => {
    expect(decideEventAttempt({ type: 'circuit_open', remainingMs: 12_345 }, context())).toEqual({ type: 'hold', delayMs: 12_345 });
    expect(decideEventAttempt({ type: 'probe_out' }, context())).toEqual({ type: 'hold', delayMs: 1000 });
  });

  it("keeps at most 300 characters of the endpoint's words, on one line, and only in the log's error (the reason has none)", () => {
    const decision = decideEventAttempt(answered(400, null, `bad\n${'x'.repeat(1000)}`), context());
    expect(decision).toMatchObject({ type: 'fail', reason: 'Events endpoint answered 400' });
    const error = (decision as { error: string }).error;
    expect(error.startsWith('Events endpoint answered 400: bad x')).toBe(true);
    expect(error.length).toBeLessThan(340);
  });
});
