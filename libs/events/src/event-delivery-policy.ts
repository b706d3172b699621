import { classifyStatus, honouredRetryAfterMs, retryDelayMs, RetryConfig } from '@app/leads';

/*
 * What one turn of the events Worker makes of an endpoint's answer: the leads' rules
 * (classifyStatus, the retry schedule with jitter, Retry-After honoured up to a cap), applied
 * to a CRM's events endpoint. Pure, so every rule is a row in its spec.
 */

/** How much of an endpoint's answer goes into the attempt log and the reason. */
export const EVENT_ERROR_BODY_CHARS = 300;

export type EventSendOutcome =
  /** The endpoint's breaker is open: nothing was sent. */
  | { type: 'circuit_open'; remainingMs: number }
  /** Half open, and another worker's probe is under way: nothing was sent. */
  | { type: 'probe_out' }
  | { type: 'answered'; statusCode: number; retryAfterMs: number | null; body: string | null }
  /** No answer: refused, reset, timed out, DNS … (`code`: Node's error code). */
  | { type: 'unreachable'; code: string | null; timedOut: boolean };

export type EventDecision =
  | { type: 'delivered'; statusCode: number }
  /** Put back without spending an attempt (the breaker holds the endpoint). */
  | { type: 'hold'; delayMs: number }
  | { type: 'retry'; delayMs: number; reason: string; error: string; statusCode: number | null; retryAfterMs: number | null }
  | { type: 'fail'; reason: string; error: string; statusCode: number | null; transient: boolean };

export interface EventDecisionContext {
  /** This attempt's number, from 1, and how many the event has. */
  attempt: number;
  attempts: number;
  retry: RetryConfig;
  /** The endpoint breaker's cool-down: also the cap of a 5xx's Retry-After. */
  breakerCooldownMs: number;
  random: () => number;
}

/** Half open, another probe under way: look again this soon (at most the cool-down). */
const PROBE_RECHECK_MS = 1_000;

export function decideEventAttempt(outcome: EventSendOutcome, context: EventDecisionContext): EventDecision {
  switch (outcome.type) {
    case 'circuit_open':
      return { type: 'hold', delayMs: outcome.remainingMs };
    case 'probe_out':
      return { type: 'hold', delayMs: Math.min(PROBE_RECHECK_MS, context.breakerCooldownMs) };
    case 'unreachable': {
      const reason = outcome.timedOut ? 'Events endpoint did not answer in time' : `Events endpoint unreachable (${outcome.code ?? 'network error'})`;
      return transient(reason, reason, null, null, context);
    }
    case 'answered': {
      const kind = classifyStatus(outcome.statusCode);
      if (kind === 'delivered') return { type: 'delivered', statusCode: outcome.statusCode };
      const reason = `Events endpoint answered ${outcome.statusCode}`;
      const excerpt = outcome.body?.trim() ? `: ${oneLine(outcome.body)}` : '';
      if (kind === 'permanent') return { type: 'fail', reason, error: `${reason}${excerpt}`, statusCode: outcome.statusCode, transient: false };
      const honoured = honouredRetryAfterMs(outcome.retryAfterMs, outcome.statusCode === 429, context.breakerCooldownMs);
      return transient(reason, `${reason}${excerpt}`, outcome.statusCode, honoured, context);
    }
  }
}

function transient(reason: string, error: string, statusCode: number | null, retryAfterMs: number | null, context: EventDecisionContext): EventDecision {
  if (context.attempt >= context.attempts) {
    return { type: 'fail', reason: `${reason} (no attempt left of ${context.attempts})`, error, statusCode, transient: true };
  }
  return { type: 'retry', delayMs: retryDelayMs(context.retry, context.attempt, retryAfterMs, context.random), reason, error, statusCode, retryAfterMs };
}

/** An answer's words for the log: one line, bounded. */
function oneLine(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > EVENT_ERROR_BODY_CHARS ? `${flat.slice(0, EVENT_ERROR_BODY_CHARS)}…` : flat;
}
