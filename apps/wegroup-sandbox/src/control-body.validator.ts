import { BadRequestException } from '@nestjs/common';
import { InvalidJsonBody } from './sandbox-http.setup';
import { callbackStatusesProblem, isValidToken, scopeProblem, type TokenScheme } from './sandbox-options';
import { MAX_DELAY_MS } from './sandbox.constants';
import type { FaultMode, NewFaultRule } from './sandbox.types';

/** Control-API input checks. Every problem of a body is collected into one 400 answer. */

type Obj = Record<string, unknown>;

export const MAX_FAULT_COUNT = 1_000_000;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FORBIDDEN_FAULT_HEADERS = new Set(['content-length', 'transfer-encoding']);

export function badRequest(problems: string[]): BadRequestException {
  return new BadRequestException({ detail: problems.join('; '), errors: problems });
}

/** The control API accepts JSON whatever the Content-Type (curl -d sends form encoding). */
export function jsonObject(body: unknown, allowed: readonly string[]): Obj {
  let value = body;
  if (value instanceof InvalidJsonBody) throw badRequest([`body is not valid JSON: ${value.message}`]);
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw badRequest(['body must be a JSON object']);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(['body must be a JSON object']);
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw badRequest(unknown.map((key) => `unknown field "${key}" (allowed: ${allowed.join(', ')})`));
  }
  return value as Obj;
}

function integerIn(value: unknown, name: string, min: number, max: number, problems: string[]): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name} must be an integer between ${min} and ${max}`);
    return undefined;
  }
  return value;
}

/** Optional `distribution_id` query filter: absent, or exactly one non-empty value. */
export function distributionFilter(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw badRequest(['distribution_id must be given once and not be empty (leave it out to match every distribution)']);
  }
  return value;
}

const FAULT_FIELDS = ['status', 'count', 'delay_ms', 'headers', 'body', 'distribution_id', 'mode'] as const;

export function parseFaultRule(raw: unknown): NewFaultRule {
  const input = jsonObject(raw, FAULT_FIELDS);
  const problems: string[] = [];

  const mode = (input.mode ?? 'respond') as FaultMode;
  if (mode !== 'respond' && mode !== 'reset') problems.push('mode must be "respond" (default) or "reset"');

  let status: number | null = null;
  if (mode === 'reset') {
    if (input.status !== undefined && input.status !== null) problems.push('status must be left out with mode "reset" (nothing is answered)');
  } else if (input.status === undefined) {
    problems.push('status is required (an integer between 200 and 599)');
  } else {
    status = integerIn(input.status, 'status', 200, 599, problems) ?? null;
  }

  const count = input.count === undefined ? 1 : integerIn(input.count, 'count', 1, MAX_FAULT_COUNT, problems);
  const delayMs =
    input.delay_ms === undefined || input.delay_ms === null ? null : (integerIn(input.delay_ms, 'delay_ms', 0, MAX_DELAY_MS, problems) ?? null);

  const headers: Record<string, string> = {};
  if (input.headers !== undefined && input.headers !== null) {
    if (typeof input.headers !== 'object' || Array.isArray(input.headers)) {
      problems.push('headers must be an object of header name -> string value');
    } else {
      for (const [name, value] of Object.entries(input.headers as Obj)) {
        if (!HEADER_NAME.test(name)) problems.push(`headers: "${name}" is not a valid header name`);
        else if (FORBIDDEN_FAULT_HEADERS.has(name.toLowerCase())) problems.push(`headers: "${name}" is set by the server and cannot be injected`);
        else if ((typeof value !== 'string' && typeof value !== 'number') || /[\r\n\0]/.test(String(value))) {
          problems.push(`headers: the value of "${name}" must be a string (or number) without line breaks`);
        } else headers[name] = String(value);
      }
    }
  }
  if (mode === 'reset' && input.body !== undefined) problems.push('body must be left out with mode "reset" (nothing is answered)');

  let distributionId: string | null = null;
  if (input.distribution_id !== undefined && input.distribution_id !== null) {
    if (typeof input.distribution_id !== 'string' || input.distribution_id === '') problems.push('distribution_id must be a non-empty string');
    else distributionId = input.distribution_id;
  }

  if (problems.length > 0) throw badRequest(problems);
  const rule: NewFaultRule = {
    mode,
    status,
    count: count as number,
    delay_ms: delayMs,
    headers,
    distribution_id: distributionId,
  };
  if (input.body !== undefined) rule.body = input.body;
  return rule;
}

export interface BehaviourChange {
  delay_ms?: number;
  callbacks?: string[];
  callback_delay_ms?: number;
}

const BEHAVIOUR_FIELDS = ['delay_ms', 'callbacks', 'callback_delay_ms'] as const;

/** PUT /_sandbox/behaviour: any of its fields, at least one. */
export function parseBehaviour(raw: unknown): BehaviourChange {
  const input = jsonObject(raw, BEHAVIOUR_FIELDS);
  const problems: string[] = [];
  const change: BehaviourChange = {};
  if (input.delay_ms !== undefined) change.delay_ms = integerIn(input.delay_ms, 'delay_ms', 0, MAX_DELAY_MS, problems);
  if (input.callback_delay_ms !== undefined) change.callback_delay_ms = integerIn(input.callback_delay_ms, 'callback_delay_ms', 0, MAX_DELAY_MS, problems);
  if (input.callbacks !== undefined) {
    const problem = Array.isArray(input.callbacks) ? callbackStatusesProblem(input.callbacks) : 'must be an array of statuses (empty: no callbacks)';
    if (problem) problems.push(`callbacks ${problem}`);
    else change.callbacks = input.callbacks as string[];
  }
  if (BEHAVIOUR_FIELDS.every((field) => input[field] === undefined)) {
    problems.push(`delay_ms (an integer between 0 and ${MAX_DELAY_MS}), callbacks or callback_delay_ms is required`);
  }
  if (problems.length > 0) throw badRequest(problems);
  return change;
}

export interface TokenRegistration {
  scheme: TokenScheme;
  token: string;
  scopes: string[];
}

export function parseTokenRegistration(raw: unknown): TokenRegistration {
  const input = jsonObject(raw, ['scheme', 'token', 'scopes']);
  const problems: string[] = [];
  const scheme = typeof input.scheme === 'string' ? input.scheme.toLowerCase() : input.scheme;
  if (scheme !== 'apikey' && scheme !== 'bearer') problems.push('scheme must be "apikey" or "bearer"');
  if (typeof input.token !== 'string' || !isValidToken(input.token)) {
    problems.push('token must be a non-empty string without spaces, ",", "=" or "|"');
  }
  let scopes: string[] = [];
  if (!Array.isArray(input.scopes) || input.scopes.some((s) => typeof s !== 'string')) {
    problems.push('scopes must be an array of scope names (may be empty)');
  } else {
    scopes = [...new Set(input.scopes as string[])];
    if (scheme === 'apikey' || scheme === 'bearer') {
      const problem = scopeProblem(scheme, scopes);
      if (problem) problems.push(`scopes: ${problem}`);
    }
  }
  if (problems.length > 0) throw badRequest(problems);
  return { scheme: scheme as TokenScheme, token: input.token as string, scopes };
}
