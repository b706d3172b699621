import { ReauthRequiredError, WeGroupError } from '@app/wegroup';
import {
  afterRefusal,
  AttemptOutcome,
  attemptsFor,
  decide,
  Decision,
  DecisionContext,
  deliveryJobOptions,
  honouredRetryAfterMs,
  LeadState,
  MAX_RATE_LIMIT_PAUSE_MS,
  retryDelayMs,
  UnreadableJobError,
  withCircuitCount,
} from './delivery-policy';
import { LeadMappingError, SourceFetchError } from './native-lead-errors';

const retry = { scheduleMs: [5_000, 300_000], maxRateLimitWaitMs: 6 * 3_600_000 };
const NOW = Date.parse('2026-11-27T10:00:00.000Z');
/** Attempt 1 of 3, no jitter (random 0.5 is the middle), a one-minute cool-down. */
const base: DecisionContext = { attempt: 1, attempts: 3, retry, breakerCooldownMs: 60_000, now: NOW, random: () => 0.5 };
const fresh: LeadState = {};
const HOSTILE_MS = 99_999_999_000;

/** WeGroup's answer as the client throws it: unclassified, with its status, body and Retry-After. */
const answer = (status: number, retryAfterMs: number | null = null, body: string | null = null) =>
  new WeGroupError(`WeGroup answered ${status}`, null, status, body, retryAfterMs);
const failed = (error: unknown): AttemptOutcome => ({ type: 'failed', error });

type Row = [string, AttemptOutcome, LeadState, Partial<DecisionContext>, Record<string, unknown>];

const retried = (delayMs: number, pauseMs: number | null, statusCode: number | null, extra: Record<string, unknown> = {}) => ({
  type: 'retry',
  delayMs,
  pauseMs,
  countsTowardCircuit: true,
  failure: { kind: 'transient', statusCode, ...extra },
  entry: { outcome: 'transient', status_code: statusCode, next_delay_ms: delayMs, pause_ms: pauseMs },
});
const failedFor = (reason: string, statusCode: number | null) => ({
  type: 'fail',
  reason,
  pauseMs: null,
  countsTowardCircuit: false,
  failure: { kind: 'permanent', statusCode, reason },
  entry: { outcome: 'permanent', status_code: statusCode, next_delay_ms: null },
});
const rateLimited = (ms: number, waitedMs: number, askedMs: number | null) => ({
  type: 'pause',
  ms,
  cause: 'rate_limited',
  rateLimited: {
    waitedMs,
    failure: { kind: 'transient', statusCode: 429, retryAfterMs: askedMs },
    entry: { outcome: 'rate_limited', status_code: 429, next_delay_ms: ms, retry_after_ms: askedMs, pause_ms: ms },
  },
});

const typeError = new TypeError("Cannot read properties of undefined (reading 'scopes')", { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
const retiredKey = new UnreadableJobError('The lead\'s sealed data cannot be opened (Sealed with key "retired", which is not configured): check DATA_ENCRYPTION_KEY and DATA_ENCRYPTION_OLD_KEYS', {
  cause: new Error('Sealed with key "retired", which is not configured'),
});

const rows: Row[] = [
  // Breaker admissions: WeGroup was not called; the lead keeps its attempt.
  ['circuit open: wait out the cool-down', { type: 'circuit_open', remainingMs: 42_000 }, fresh, {}, { type: 'pause', ms: 42_000, cause: 'circuit_open' }],
  ["half open, another worker's probe is out: look again in a second", { type: 'probe_out' }, fresh, {}, { type: 'pause', ms: 1_000, cause: 'probe_out' }],
  ['half open with a cool-down under a second: look again after it', { type: 'probe_out' }, fresh, { breakerCooldownMs: 300 }, { type: 'pause', ms: 300, cause: 'probe_out' }],

  // Delivered.
  [
    'a 201',
    { type: 'delivered', statusCode: 201, leadId: 'wg-9', body: '{"id":"wg-9"}' },
    fresh,
    {},
    { type: 'delivered', result: { status_code: 201, lead_id: 'wg-9' }, entry: { outcome: 'delivered', status_code: 201, error: null, body: '{"id":"wg-9"}', next_delay_ms: null } },
  ],

  // Permanent: no attempt will do better.
  ['erased before delivery', { type: 'erased' }, fresh, {}, failedFor("The lead's personal data was erased before delivery: nothing to send.", null)],
  ['a 401 (the API token is bad)', failed(answer(401)), fresh, {}, failedFor('WeGroup answered 401', 401)],
  ['a 403 (a scope or permission is missing)', failed(answer(403)), fresh, {}, failedFor('WeGroup answered 403', 403)],
  [
    "a 422 says WeGroup's words without values, and keeps its whole body for the sealed log",
    failed(new WeGroupError('WeGroup answered 422: …', null, 422, '{"detail":[{"loc":["body","prospect","vin"],"msg":"invalid vin","input":"WBA6L7100LFH65459"}]}', null, 'WeGroup answered 422')),
    fresh,
    {},
    {
      ...failedFor('WeGroup answered 422: prospect.vin: invalid vin', 422),
      entry: { outcome: 'permanent', status_code: 422, error: 'WeGroup answered 422: …', body: expect.stringContaining('WBA6L7100LFH65459') },
    },
  ],
  ['a permanent failure on the last attempt is still permanent', failed(answer(400)), fresh, { attempt: 3 }, failedFor('WeGroup answered 400', 400)],
  ['a missing scope (WeGroup not called)', failed(new WeGroupError('Missing scope leads:write', 'permanent')), fresh, {}, failedFor('Missing scope leads:write', null)],
  ['no SSO connection for the distribution', failed(new WeGroupError('No SSO connection for distribution d', 'permanent')), fresh, {}, failedFor('No SSO connection for distribution d', null)],
  ...[301, 400, 404, 409, 410, 501, 505].map((status): Row => [`a ${status}`, failed(answer(status)), fresh, {}, failedFor(`WeGroup answered ${status}`, status)]),

  // Transient: retried on the schedule, counted toward the circuit.
  ['a 503 on the first attempt: the first step', failed(answer(503)), fresh, {}, retried(5_000, null, 503)],
  ['a 503 on the second attempt, jitter at its lowest: −20 %', failed(answer(503)), fresh, { attempt: 2, random: () => 0 }, retried(240_000, null, 503)],
  ['a 503 on the second attempt, jitter at its highest: +20 %', failed(answer(503)), fresh, { attempt: 2, random: () => 1 }, retried(360_000, null, 503)],
  ...[408, 425, 500, 502, 504, 507, 599].map((status): Row => [`a ${status}`, failed(answer(status)), fresh, {}, retried(5_000, null, status)]),
  ['no answer at all (timeout, refused, reset)', failed(new WeGroupError('WeGroup did not answer in time (timeout)', 'transient')), fresh, {}, retried(5_000, null, null)],
  ['an SSO refresh that failed for now', failed(new WeGroupError('Refreshing the SSO token failed (Error)', 'transient')), fresh, {}, retried(5_000, null, null)],
  [
    "a 503's Retry-After shorter than the step: pauses every delivery, the step stands",
    failed(answer(503, 2_000)),
    fresh,
    {},
    retried(5_000, 2_000, 503, { retryAfterMs: 2_000, honouredRetryAfterMs: 2_000 }),
  ],
  [
    "a 503's Retry-After longer than the step, within the cool-down: no retry sooner",
    failed(answer(503, 45_000)),
    fresh,
    {},
    retried(45_000, 45_000, 503, { retryAfterMs: 45_000, honouredRetryAfterMs: 45_000 }),
  ],
  [
    "a hostile 503 Retry-After is capped at the breaker's cool-down, both values kept",
    failed(answer(503, HOSTILE_MS)),
    fresh,
    {},
    { ...retried(60_000, 60_000, 503, { retryAfterMs: HOSTILE_MS, honouredRetryAfterMs: 60_000 }), entry: { outcome: 'transient', retry_after_ms: HOSTILE_MS, pause_ms: 60_000, next_delay_ms: 60_000 } },
  ],
  [
    'a 503 on the last attempt: the lead fails, still counted toward the circuit',
    failed(answer(503, 2_000)),
    fresh,
    { attempt: 3 },
    { type: 'fail', reason: 'WeGroup answered 503', pauseMs: 2_000, countsTowardCircuit: true, failure: { kind: 'transient' }, entry: { outcome: 'transient', next_delay_ms: null, pause_ms: 2_000 } },
  ],
  [
    "the job's own attempts count, not the schedule's",
    failed(answer(503)),
    fresh,
    { attempt: 3, attempts: 5 },
    { type: 'retry', delayMs: 300_000 },
  ],

  // 429: pauses every delivery without spending the attempt, within the lead's budget.
  ['a 429 with Retry-After', failed(answer(429, 2_000)), fresh, {}, rateLimited(2_000, 2_000, 2_000)],
  ['a 429 without Retry-After waits 30 s', failed(answer(429)), fresh, {}, rateLimited(30_000, 30_000, null)],
  ['a hostile 429 Retry-After is capped at an hour', failed(answer(429, HOSTILE_MS)), fresh, {}, rateLimited(MAX_RATE_LIMIT_PAUSE_MS, MAX_RATE_LIMIT_PAUSE_MS, HOSTILE_MS)],
  ["a 429 adds to the lead's earlier waits", failed(answer(429, 2_000)), { rate_limited_ms: 10_000 }, {}, rateLimited(2_000, 12_000, 2_000)],
  ['a 429 on the last attempt still keeps it', failed(answer(429, 2_000)), fresh, { attempt: 3 }, rateLimited(2_000, 2_000, 2_000)],
  ['a 429 that fills the budget exactly still waits', failed(answer(429, 2_000)), { rate_limited_ms: retry.maxRateLimitWaitMs - 2_000 }, {}, rateLimited(2_000, retry.maxRateLimitWaitMs, 2_000)],
  [
    'a 429 over the budget spends the attempt, and still pauses every delivery',
    failed(answer(429, 2_000)),
    { rate_limited_ms: retry.maxRateLimitWaitMs - 1_000 },
    {},
    retried(5_000, 2_000, 429, { retryAfterMs: 2_000, honouredRetryAfterMs: 2_000 }),
  ],
  ['a 429 with no budget at all (RATE_LIMIT_MAX_WAIT_SECONDS=0) is an ordinary transient failure', failed(answer(429)), fresh, { retry: { ...retry, maxRateLimitWaitMs: 0 } }, retried(5_000, null, 429)],

  // SSO: the broker must sign in again; the lead waits, nothing spent.
  [
    'a connection that needs a new sign-in',
    failed(new ReauthRequiredError('dist-1', 'the refresh token was revoked')),
    fresh,
    {},
    {
      type: 'await_sign_in',
      until: NOW + 300_000,
      held: {
        kind: 'held',
        at: '2026-11-27T10:00:00.000Z',
        until: '2026-11-27T10:05:00.000Z',
        reason: 'Waiting for a broker of distribution dist-1 to sign in to WeGroup again: the refresh token was revoked',
      },
    },
  ],

  // Not WeGroup's answers: unexpected errors are retried and kept whole; recurring ones fail at once.
  [
    'an unexpected error: retried, its type in clear, message, cause and stack for the sealed log',
    failed(typeError),
    fresh,
    {},
    {
      ...retried(5_000, null, null, { reason: 'Delivery failed unexpectedly (TypeError)', error: typeError }),
      reason: 'Delivery failed unexpectedly (TypeError)',
      entry: {
        outcome: 'transient',
        error: "TypeError: Cannot read properties of undefined (reading 'scopes'); caused by Error: socket hang up",
        body: null,
        stack: expect.stringMatching(/^TypeError: Cannot read[^\n]*\n\s+at [\s\S]*\nCaused by: Error: socket hang up\n\s+at /),
      },
    },
  ],
  ['an unexpected error with a code names both', failed(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })), fresh, {}, { type: 'retry', reason: 'Delivery failed unexpectedly (Error ECONNRESET)' }],
  ['something thrown that is not an Error', failed('boom'), fresh, {}, { type: 'retry', reason: 'Delivery failed unexpectedly (string)', entry: { error: 'boom', stack: null } }],
  ['an unexpected error on the last attempt fails the lead', failed(typeError), fresh, { attempt: 3 }, { type: 'fail', countsTowardCircuit: true, failure: { kind: 'transient', error: typeError } }],
  [
    'a retired data key fails at once, whatever the attempt, its chain kept for the sealed log',
    failed(retiredKey),
    fresh,
    {},
    {
      ...failedFor(retiredKey.message, null),
      failure: { kind: 'permanent', reason: retiredKey.message, error: retiredKey },
      entry: { outcome: 'permanent', error: `UnreadableJobError: ${retiredKey.message}; caused by Error: Sealed with key "retired", which is not configured`, stack: expect.stringContaining('UnreadableJobError') },
    },
  ],
  [
    'a job that is not a lead delivery fails at once',
    failed(new UnreadableJobError('The job is not a lead delivery: lead_id, distribution_id or sealed_lead is missing or malformed')),
    fresh,
    {},
    failedFor('The job is not a lead delivery: lead_id, distribution_id or sealed_lead is missing or malformed', null),
  ],

  // Native leads, before WeGroup is called: neither the platform's trouble nor a mapping counts toward WeGroup's circuit, nor pauses every delivery.
  [
    'a mapping that fails: failed at once, naming the fields',
    failed(new LeadMappingError('Mapping of source "hubspot-main" gave no prospect.first_name, prospect.last_name', [{ field: 'prospect.first_name', message: 'is required' }])),
    fresh,
    {},
    {
      ...failedFor('Mapping of source "hubspot-main" gave no prospect.first_name, prospect.last_name', null),
      failure: { kind: 'permanent', statusCode: null, before: 'mapping', retryAfterMs: null },
      entry: { outcome: 'permanent', status_code: null, error: 'Mapping of source "hubspot-main" gave no prospect.first_name, prospect.last_name', body: null, next_delay_ms: null },
    },
  ],
  ['a mapping failure on the first of many attempts is still final', failed(new LeadMappingError('prospect.email must be an e-mail')), fresh, { attempts: 9 }, failedFor('prospect.email must be an e-mail', null)],
  [
    "a source no longer configured: failed at once, naming it",
    failed(new LeadMappingError('Source "gone" is no longer configured (SOURCES_FILE): add it back, then retry the lead')),
    fresh,
    {},
    failedFor('Source "gone" is no longer configured (SOURCES_FILE): add it back, then retry the lead', null),
  ],
  [
    "a transient fetch failure (the platform's 503): retried on the schedule, no pause, not counted",
    failed(new SourceFetchError('HubSpot answered 503 fetching contact 101', 'transient', 503)),
    fresh,
    {},
    {
      type: 'retry',
      delayMs: 5_000,
      reason: 'HubSpot answered 503 fetching contact 101',
      pauseMs: null,
      countsTowardCircuit: false,
      failure: { kind: 'transient', statusCode: null, before: 'fetch', reason: 'HubSpot answered 503 fetching contact 101' },
      entry: { outcome: 'transient', status_code: null, error: 'HubSpot answered 503 fetching contact 101', body: null, next_delay_ms: 5_000, pause_ms: null },
    },
  ],
  [
    "a platform's 429 Retry-After longer than the step: this lead waits for it, nobody else does, the attempt is spent",
    failed(new SourceFetchError('HubSpot answered 429 fetching contact 101', 'transient', 429, 120_000)),
    fresh,
    {},
    {
      type: 'retry',
      delayMs: 120_000,
      pauseMs: null,
      countsTowardCircuit: false,
      failure: { retryAfterMs: 120_000, honouredRetryAfterMs: 120_000, before: 'fetch' },
      entry: { outcome: 'transient', retry_after_ms: 120_000, pause_ms: null, next_delay_ms: 120_000 },
    },
  ],
  [
    "a platform's hostile 429 Retry-After is capped at an hour",
    failed(new SourceFetchError('Facebook Graph answered 429 fetching leadgen 7', 'transient', 429, HOSTILE_MS)),
    fresh,
    {},
    { type: 'retry', delayMs: MAX_RATE_LIMIT_PAUSE_MS, pauseMs: null, countsTowardCircuit: false, failure: { retryAfterMs: HOSTILE_MS, honouredRetryAfterMs: MAX_RATE_LIMIT_PAUSE_MS } },
  ],
  [
    "a platform's hostile 503 Retry-After is capped at the cool-down",
    failed(new SourceFetchError('Pipedrive answered 503 fetching person 5', 'transient', 503, HOSTILE_MS)),
    fresh,
    {},
    { type: 'retry', delayMs: 60_000, pauseMs: null, countsTowardCircuit: false, failure: { honouredRetryAfterMs: 60_000 } },
  ],
  [
    'a network failure fetching the record (no status): retried',
    failed(new SourceFetchError('Pipedrive did not answer fetching person 5 (timeout)', 'transient')),
    fresh,
    { attempt: 2, random: () => 0 },
    { type: 'retry', delayMs: 240_000, countsTowardCircuit: false, pauseMs: null },
  ],
  [
    'a transient fetch failure on the last attempt: the lead fails, not counted toward the circuit',
    failed(new SourceFetchError('HubSpot answered 502 fetching contact 101', 'transient', 502, 2_000)),
    fresh,
    { attempt: 3 },
    {
      type: 'fail',
      reason: 'HubSpot answered 502 fetching contact 101',
      pauseMs: null,
      countsTowardCircuit: false,
      failure: { kind: 'transient', before: 'fetch' },
      entry: { outcome: 'transient', next_delay_ms: null, pause_ms: null, retry_after_ms: 2_000 },
    },
  ],
  [
    'a permanent fetch failure (the record is gone): failed at once with its reason',
    failed(new SourceFetchError('HubSpot answered 404 fetching contact 101', 'permanent', 404)),
    fresh,
    {},
    { ...failedFor('HubSpot answered 404 fetching contact 101', null), failure: { kind: 'permanent', before: 'fetch', statusCode: null } },
  ],
  [
    'no token configured to fetch with: failed at once with its reason',
    failed(new SourceFetchError('Source "hubspot-main" has no access_token: HubSpot v3 events carry ids only, so contact 101 cannot be fetched', 'permanent')),
    fresh,
    {},
    failedFor('Source "hubspot-main" has no access_token: HubSpot v3 events carry ids only, so contact 101 cannot be fetched', null),
  ],
];

describe('the delivery policy: decide(outcome, lead, context)', () => {
  it.each(rows)('%s', (_name, outcome, lead, context, expected) => {
    expect(decide(outcome, lead, { ...base, ...context })).toMatchObject(expected);
  });

  it('is pure: the same inputs give the same decision', () => {
    for (const [, outcome, lead, context] of rows) expect(decide(outcome, lead, { ...base, ...context })).toEqual(decide(outcome, lead, { ...base, ...context }));
  });
});

describe('the circuit breaker folds into a failure decision', () => {
  const retry503 = decide(failed(answer(503)), fresh, base) as Extract<Decision, { type: 'retry' }>;
  const retry503After = decide(failed(answer(503, 2_000)), fresh, base) as Extract<Decision, { type: 'retry' }>;
  it.each([
    ['not opened, no Retry-After: no pause', retry503, null, null],
    ['opened: every delivery pauses for the cool-down', retry503, 60_000, 60_000],
    ['not opened, Retry-After: its pause stands', retry503After, null, 2_000],
    ['opened, shorter Retry-After: the longer of the two', retry503After, 60_000, 60_000],
  ] as const)('%s', (_name, decision, openedForMs, pauseMs) => {
    expect(withCircuitCount(decision, openedForMs)).toMatchObject({ type: 'retry', delayMs: decision.delayMs, pauseMs, entry: { pause_ms: pauseMs } });
  });
});

describe('after WeGroup refuses credentials', () => {
  it.each([
    ['a 401 to SSO credentials: renew once and try again', answer(401), 'bearer', 'renew_and_retry'],
    ['a 403 to SSO credentials: report the scope as not granted', answer(403), 'bearer', 'report_forbidden'],
    ['a 401 to the API token: nothing to renew', answer(401), 'apikey', null],
    ['a 403 to the API token: nothing to report', answer(403), 'apikey', null],
    ['a 503 to SSO credentials: not a refusal', answer(503), 'bearer', null],
    ['an unexpected error', new TypeError('x'), 'bearer', null],
  ] as const)('%s', (_name, error, scheme, next) => {
    expect(afterRefusal(error, scheme)).toBe(next);
  });
});

describe('the schedule', () => {
  it('spends one attempt more than the schedule has delays, and every job carries it', () => {
    const schedule = { scheduleMs: [5_000, 300_000, 1_800_000], maxRateLimitWaitMs: 0 };
    expect(attemptsFor(schedule)).toBe(4);
    expect(deliveryJobOptions(schedule, { deliveredDays: 7, metadataDays: 90, failedDays: 30, idempotencyTtlSeconds: 60 })).toMatchObject({
      attempts: 4,
      backoff: { type: 'wegroup-schedule' },
      removeOnComplete: { age: 90 * 86_400 },
      removeOnFail: { age: 30 * 86_400 },
    });
  });

  it('keeps jitter within ±20 % with the real random source', () => {
    for (let i = 0; i < 1000; i++) {
      const delay = retryDelayMs(retry, 2, null);
      expect(delay).toBeGreaterThanOrEqual(240_000);
      expect(delay).toBeLessThanOrEqual(360_000);
    }
  });

  it.each([
    ['a 429 within the cap', 120_000, true, 120_000],
    ['a hostile 429', HOSTILE_MS, true, MAX_RATE_LIMIT_PAUSE_MS],
    ['a 503 within the cool-down', 2_000, false, 2_000],
    ['a hostile 503', HOSTILE_MS, false, 60_000],
    ['no Retry-After', null, true, null],
  ] as const)('honours Retry-After up to a cap: %s', (_, asked, rateLimited, honoured) => {
    expect(honouredRetryAfterMs(asked, rateLimited, 60_000)).toBe(honoured);
  });
});
