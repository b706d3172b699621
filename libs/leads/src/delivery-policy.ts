import type { JobsOptions } from 'bullmq';
import { RetentionConfig, RetryConfig } from './lead-jobs.settings';
// Deep imports keep this file light: the benchmark's kit loads it beside a bare baseline.
import { AuthScheme, ReauthRequiredError } from '@app/wegroup/auth/wegroup-auth';
import { FailureKind, truncate, WeGroupError } from '@app/wegroup/wegroup.errors';
import { AttemptRecord, DeliverLeadJobData, DeliveryResult, HeldRecord } from './lead-job';
import { LeadMappingError, SourceFetchError } from './native-lead-errors';

/*
 * The delivery and retry policy, in one place: which outcomes are worth another try, the
 * retry schedule, the 429 budget, the circuit breaker's pauses and the reasons ops read.
 * `decide` is pure (time and randomness come in through its context), so every rule is a
 * row in delivery-policy.spec.ts; the worker (lead-delivery.processor.ts) only executes it.
 */

/** The backoff type our jobs carry; the worker's backoffStrategy returns the delay `decide` chose. */
export const RETRY_SCHEDULE_BACKOFF = 'wegroup-schedule';

/** Each delay is moved by up to ±20 % so retries after an outage do not arrive in lockstep. */
export const JITTER = 0.2;

/** Waiting asked by a 429 without Retry-After. */
export const DEFAULT_RATE_LIMIT_PAUSE_MS = 30_000;

/**
 * The most of a 429's Retry-After that is honoured. A 429 pauses every delivery, so one
 * header must not stop them for days: after this long one request asks again.
 */
export const MAX_RATE_LIMIT_PAUSE_MS = 3_600_000;

/** Half open, with another worker's probe under way: look again this soon (at most the cool-down). */
export const PROBE_RECHECK_MS = 1_000;

/** A lead waiting for a new SSO sign-in looks again this often (a sign-in also wakes it at once). */
export const REAUTH_RECHECK_MS = 5 * 60_000;

export function attemptsFor(retry: RetryConfig): number {
  return retry.scheduleMs.length + 1;
}

/**
 * The delay before the next attempt after `attemptsMade` failed ones: the schedule's step
 * with jitter, and never sooner than WeGroup's Retry-After.
 */
export function retryDelayMs(retry: RetryConfig, attemptsMade: number, retryAfterMs: number | null, random = Math.random): number {
  const step = retry.scheduleMs[Math.min(attemptsMade, retry.scheduleMs.length) - 1] ?? 0;
  const jittered = Math.round(step * (1 + JITTER * (2 * random() - 1)));
  return Math.max(jittered, retryAfterMs ?? 0);
}

/**
 * How much of WeGroup's Retry-After is honoured (null: it sent none). A 429 counts up to
 * {@link MAX_RATE_LIMIT_PAUSE_MS}; any other answer (a 503) up to the circuit breaker's
 * cool-down, the pause the service already takes for an outage.
 */
export function honouredRetryAfterMs(retryAfterMs: number | null, rateLimited: boolean, breakerCooldownMs: number): number | null {
  if (retryAfterMs === null) return null;
  return Math.min(retryAfterMs, rateLimited ? MAX_RATE_LIMIT_PAUSE_MS : breakerCooldownMs);
}

const DAY_SECONDS = 86_400;

/** Options every lead delivery job gets; the job id is the lead id. */
export function deliveryJobOptions(retry: RetryConfig, retention: RetentionConfig): JobsOptions {
  return {
    attempts: attemptsFor(retry),
    backoff: { type: RETRY_SCHEDULE_BACKOFF },
    // Finished jobs are the leads' status records (and failed ones the dead letters). A
    // delivered lead's personal data goes earlier, after deliveredDays (the worker's sweep).
    removeOnComplete: { age: retention.metadataDays * DAY_SECONDS },
    removeOnFail: { age: retention.failedDays * DAY_SECONDS },
  };
}

/** Request timeouts, throttling and server trouble are worth another try. */
const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/** WeGroup's answer by its status. */
export function classifyStatus(status: number): FailureKind | 'delivered' {
  if (status >= 200 && status < 300) return 'delivered';
  if (TRANSIENT_STATUS.has(status)) return 'transient';
  // An unknown 5xx is still the server's trouble; 501/505 say it never will work.
  if (status >= 500 && status !== 501 && status !== 505) return 'transient';
  return 'permanent';
}

/**
 * What the worker does when WeGroup refuses SSO credentials, before the failure is decided:
 * a 401 earns one token renewal and one more try; a 403 marks the scope as not effectively
 * granted on the connection. An API token gets neither: there is nothing to renew.
 */
export function afterRefusal(error: unknown, scheme: AuthScheme): 'renew_and_retry' | 'report_forbidden' | null {
  if (!(error instanceof WeGroupError) || scheme !== 'bearer') return null;
  if (error.statusCode === 401) return 'renew_and_retry';
  return error.statusCode === 403 ? 'report_forbidden' : null;
}

/** The job itself cannot be read (a retired data key, a malformed payload): every attempt would fail alike. */
export class UnreadableJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnreadableJobError';
  }
}

/** What one turn of the worker came to. */
export type AttemptOutcome =
  /** The circuit is open: WeGroup was not called. */
  | { type: 'circuit_open'; remainingMs: number }
  /** Half open, and another worker's probe is under way: WeGroup was not called. */
  | { type: 'probe_out' }
  | { type: 'delivered'; statusCode: number; leadId: string | null; body: string | null }
  /** The lead's personal data was removed before it could go. */
  | { type: 'erased' }
  /** Anything thrown while reading the job, authenticating or pushing. */
  | { type: 'failed'; error: unknown };

/** The lead as far as the policy reads it. */
export type LeadState = Pick<DeliverLeadJobData, 'rate_limited_ms'>;

export interface DecisionContext {
  /** This attempt's number, from 1. */
  attempt: number;
  /** How many attempts the lead has. */
  attempts: number;
  /** The schedule, and how long 429s may hold the lead without spending attempts (the worker's RATE_LIMIT_MAX_WAIT_SECONDS). */
  retry: RetryConfig & { maxRateLimitWaitMs: number };
  breakerCooldownMs: number;
  now: number;
  /** In [0, 1): the jitter. */
  random: () => number;
}

/** The attempt-log entry's fields the decision fills (the worker adds attempt number, time, duration). */
export type AttemptEntry = Pick<AttemptRecord, 'outcome' | 'status_code' | 'error' | 'body' | 'next_delay_ms' | 'retry_after_ms' | 'pause_ms' | 'stack'>;

/** A failed attempt, as logs and the job show it. */
export interface Failure {
  kind: FailureKind;
  statusCode: number | null;
  /** What ops read in clear (the job's failure reason, log lines): never values from the lead. */
  reason: string;
  /** WeGroup's Retry-After as asked, and as honoured (capped). */
  retryAfterMs: number | null;
  honouredRetryAfterMs: number | null;
  /** Set when the failure is not one of WeGroup's answers: it is logged whole (message, stack, cause). */
  error?: unknown;
  /**
   * A native lead that failed before WeGroup was called: fetching the platform's record, or
   * mapping the event to a lead. `statusCode` is then null (it is WeGroup's); the platform's
   * status is in the reason.
   */
  before?: 'fetch' | 'mapping';
}

export type Decision =
  | { type: 'delivered'; result: DeliveryResult; entry: AttemptEntry }
  /** Try again after `delayMs`; `pauseMs` pauses every delivery meanwhile (Retry-After on a 5xx). */
  | { type: 'retry'; delayMs: number; reason: string; failure: Failure; entry: AttemptEntry; pauseMs: number | null; countsTowardCircuit: boolean }
  /** No attempt will do better: the lead ends failed with `reason`. */
  | { type: 'fail'; reason: string; failure: Failure; entry: AttemptEntry; pauseMs: number | null; countsTowardCircuit: boolean }
  /**
   * Put the lead back without spending an attempt and pause every delivery for `ms`: the
   * circuit is open, or WeGroup rate-limited us (`rateLimited`: what to log and the lead's new
   * total 429 wait).
   */
  | { type: 'pause'; ms: number; cause: 'circuit_open' | 'probe_out' }
  | { type: 'pause'; ms: number; cause: 'rate_limited'; rateLimited: { failure: Failure; entry: AttemptEntry; waitedMs: number } }
  /** The broker must sign in again: the lead waits, delayed until `until`, without spending an attempt. */
  | { type: 'await_sign_in'; until: number; held: HeldRecord };

export function decide(outcome: AttemptOutcome, lead: LeadState, context: DecisionContext): Decision {
  switch (outcome.type) {
    case 'circuit_open':
      return { type: 'pause', ms: outcome.remainingMs, cause: 'circuit_open' };
    case 'probe_out':
      return { type: 'pause', ms: Math.min(PROBE_RECHECK_MS, context.breakerCooldownMs), cause: 'probe_out' };
    case 'delivered':
      return {
        type: 'delivered',
        result: { status_code: outcome.statusCode, lead_id: outcome.leadId },
        entry: { outcome: 'delivered', status_code: outcome.statusCode, error: null, body: outcome.body, next_delay_ms: null },
      };
    case 'erased':
      return fail(fromWeGroup(new WeGroupError("The lead's personal data was erased before delivery: nothing to send.", 'permanent')));
    case 'failed':
      if (outcome.error instanceof ReauthRequiredError) return awaitSignIn(outcome.error, context.now);
      if (outcome.error instanceof LeadMappingError) return fail(fromMapping(outcome.error));
      if (outcome.error instanceof SourceFetchError) return afterFetchFailure(outcome.error, context);
      return afterFailure(outcome.error instanceof WeGroupError ? fromWeGroup(outcome.error) : unexpected(outcome.error), lead, context);
  }
}

/**
 * The breaker counted a transient failure and opened the circuit for `openedForMs` (null: it
 * did not): every delivery pauses for the longer of that and the decision's own pause.
 */
export function withCircuitCount<D extends Extract<Decision, { type: 'retry' | 'fail' }>>(decision: D, openedForMs: number | null): D {
  const pauseMs = Math.max(openedForMs ?? 0, decision.pauseMs ?? 0) || null;
  return { ...decision, pauseMs, entry: { ...decision.entry, pause_ms: pauseMs } };
}

/** A failed attempt in words: what is logged in clear, and what goes to the sealed attempt log. */
interface Classified {
  failure: Failure;
  entry: Pick<AttemptEntry, 'status_code' | 'error' | 'body' | 'stack'>;
}

/**
 * A failure that is not one of WeGroup's answers. Its words stay in the sealed attempt log (they can quote
 * lead data); the reason in clear names only its type, or says what is wrong with the job.
 */
function unexpected(error: unknown): Classified {
  const whole = { status_code: null, body: null, stack: stackChain(error) };
  const none = { retryAfterMs: null, honouredRetryAfterMs: null, statusCode: null, error };
  // An unreadable job fails at once: retrying cannot change it.
  if (error instanceof UnreadableJobError) {
    return { failure: { ...none, kind: 'permanent', reason: error.message }, entry: { ...whole, error: describeChain(error) } };
  }
  const name = error instanceof Error ? error.name : typeof error;
  const code = (error as { code?: unknown } | null)?.code;
  const type = typeof code === 'string' || typeof code === 'number' ? `${name} ${code}` : name;
  return {
    failure: { ...none, kind: 'transient', reason: `Delivery failed unexpectedly (${type})` },
    entry: { ...whole, error: truncate(describeChain(error)) ?? type },
  };
}

/** One of WeGroup's answers (by its status), or a failure our WeGroup code classified itself. */
function fromWeGroup(error: WeGroupError): Classified {
  const byStatus = error.statusCode === null ? null : classifyStatus(error.statusCode);
  const kind = byStatus === 'transient' || byStatus === 'permanent' ? byStatus : (error.kind ?? 'permanent');
  return {
    // The full message may quote WeGroup's answer or the lead: it goes to the sealed attempt
    // log only; logs and the job's failure reason get the reason, which masks values.
    failure: { kind, statusCode: error.statusCode, reason: error.reason, retryAfterMs: error.retryAfterMs, honouredRetryAfterMs: null },
    entry: { status_code: error.statusCode, error: error.message, body: error.body },
  };
}

/**
 * The source's mapping failed or its lead breaks the lead rules: no attempt will do better
 * until the mapping is fixed (then POST /v1/leads/{id}/retry maps it again).
 */
function fromMapping(error: LeadMappingError): Classified {
  return {
    failure: { kind: 'permanent', statusCode: null, reason: error.reason, retryAfterMs: null, honouredRetryAfterMs: null, before: 'mapping' },
    entry: { status_code: null, error: error.reason, body: null },
  };
}

/**
 * The platform's record could not be fetched (HubSpot, Pipedrive, Facebook). Retried on the
 * schedule, and never sooner than the platform's Retry-After (capped as WeGroup's is); but
 * the platform is not WeGroup: its trouble neither pauses every delivery nor counts toward
 * WeGroup's circuit breaker, and a 429 from it spends the attempt (it holds back this lead only).
 */
function afterFetchFailure(error: SourceFetchError, context: DecisionContext): Decision {
  const asked = error.retryAfterMs;
  const honouredMs = honouredRetryAfterMs(asked, error.statusCode === 429, context.breakerCooldownMs);
  const failure: Failure = { kind: error.kind, statusCode: null, reason: error.reason, retryAfterMs: asked, honouredRetryAfterMs: honouredMs, before: 'fetch' };
  // The platform's words (the reason) only: names the platform, status and record id, no values.
  const base = { status_code: null, error: error.reason, body: null, retry_after_ms: asked, pause_ms: null };
  if (error.kind === 'permanent') {
    return { type: 'fail', reason: error.reason, failure, entry: { outcome: 'permanent', ...base, next_delay_ms: null }, pauseMs: null, countsTowardCircuit: false };
  }
  if (context.attempt >= context.attempts) {
    return { type: 'fail', reason: error.reason, failure, entry: { outcome: 'transient', ...base, next_delay_ms: null }, pauseMs: null, countsTowardCircuit: false };
  }
  const delayMs = retryDelayMs(context.retry, context.attempt, honouredMs, context.random);
  return { type: 'retry', delayMs, reason: error.reason, failure, entry: { outcome: 'transient', ...base, next_delay_ms: delayMs }, pauseMs: null, countsTowardCircuit: false };
}

function afterFailure(classified: Classified, lead: LeadState, context: DecisionContext): Decision {
  const { failure } = classified;
  if (failure.kind === 'permanent') return fail(classified);
  const asked = failure.retryAfterMs;
  const rateLimited = failure.statusCode === 429;
  if (rateLimited) {
    // Retry-After is WeGroup's word, honoured up to a cap: one header must not stop every delivery for years.
    const pauseMs = Math.min(asked ?? DEFAULT_RATE_LIMIT_PAUSE_MS, MAX_RATE_LIMIT_PAUSE_MS);
    const waitedMs = (lead.rate_limited_ms ?? 0) + pauseMs;
    if (waitedMs <= context.retry.maxRateLimitWaitMs) {
      return {
        type: 'pause',
        ms: pauseMs,
        cause: 'rate_limited',
        rateLimited: {
          failure: { ...failure, honouredRetryAfterMs: honouredRetryAfterMs(asked, true, context.breakerCooldownMs) },
          entry: { outcome: 'rate_limited', ...classified.entry, next_delay_ms: pauseMs, retry_after_ms: asked, pause_ms: pauseMs },
          waitedMs,
        },
      };
    }
    // Waited long enough on this lead: from here a 429 spends attempts like any transient failure.
  }

  const honouredMs = honouredRetryAfterMs(asked, rateLimited, context.breakerCooldownMs);
  // A Retry-After on a 503 speaks for the whole service, not just this lead.
  const pauseMs = honouredMs || null;
  const kept = { ...failure, honouredRetryAfterMs: honouredMs };
  const entry = (next: number | null): AttemptEntry => ({ outcome: 'transient', ...classified.entry, next_delay_ms: next, retry_after_ms: asked, pause_ms: pauseMs });
  if (context.attempt >= context.attempts) {
    return { type: 'fail', reason: failure.reason, failure: kept, entry: entry(null), pauseMs, countsTowardCircuit: true };
  }
  const delayMs = retryDelayMs(context.retry, context.attempt, honouredMs, context.random);
  return { type: 'retry', delayMs, reason: failure.reason, failure: kept, entry: entry(delayMs), pauseMs, countsTowardCircuit: true };
}

function fail({ failure, entry }: Classified): Decision {
  return { type: 'fail', reason: failure.reason, failure, entry: { outcome: 'permanent', ...entry, next_delay_ms: null }, pauseMs: null, countsTowardCircuit: false };
}

function awaitSignIn(error: ReauthRequiredError, now: number): Decision {
  const until = now + REAUTH_RECHECK_MS;
  return { type: 'await_sign_in', until, held: { kind: 'held', at: new Date(now).toISOString(), reason: error.message, until: new Date(until).toISOString() } };
}

/** An error and its causes, each `Type: message` (the full text: for the sealed attempt log). */
function describeChain(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    parts.push(current instanceof Error ? `${current.name}: ${current.message}` : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join('; caused by ');
}

/** An error's stack and its causes' stacks (for the sealed attempt log). */
function stackChain(error: unknown): string | null {
  const stacks: string[] = [];
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    if (current.stack) stacks.push(depth === 0 ? current.stack : `Caused by: ${current.stack}`);
    current = current.cause;
  }
  return stacks.length > 0 ? (truncate(stacks.join('\n'), 8_192) ?? null) : null;
}
