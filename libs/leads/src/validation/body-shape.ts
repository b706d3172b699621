import type { FieldError } from './field-error';

/**
 * Limits on the shape of a JSON body, checked before class-transformer and class-validator
 * see it (both recurse, and a body nested thousands of levels deep would overflow the stack).
 * A lead is a few levels deep and has at most a few hundred fields.
 */
export interface BodyLimits {
  /** The body object is level 1, `prospect` level 2, `prospect.risk_objects.cars` level 4 … */
  maxDepth: number;
  /** Object members plus array items, in the whole body. */
  maxEntries: number;
  maxStringLength: number;
  maxKeyLength: number;
}

export const BODY_LIMITS: BodyLimits = { maxDepth: 10, maxEntries: 5_000, maxStringLength: 10_000, maxKeyLength: 200 };

/** At most this many problems of one body (or one lead of a batch) are listed; the rest would only repeat them. */
export const MAX_LISTED_PROBLEMS = 20;
const MAX_PROBLEMS = MAX_LISTED_PROBLEMS;

/**
 * Names every JavaScript object already has (`constructor`, `toString`, `valueOf` …).
 * class-transformer skips a field of that name when it copies the body into the DTO, so it
 * would be accepted and then never reach WeGroup: refused instead, naming the field.
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * Stands in the parsed body for a number whose JSON text no double holds exactly (`1e400`,
 * `123456789012345678901234567890`): JSON.parse would have turned it into something else
 * (Infinity, which is sent as null, or a rounded value). The intake marks them while parsing.
 */
export class InexactNumber {}

/** A value still to check, and where it is: its path is spelled only when it has a problem. */
interface Pending {
  value: unknown;
  parent: Pending | null;
  key: string;
  depth: number;
}

/** `prospect.risk_objects.cars.0.vin`; '' for the body itself. */
function pathOf(node: Pending): string {
  const keys: string[] = [];
  for (let at: Pending | null = node; at?.parent; at = at.parent) keys.push(at.key);
  return keys.reverse().join('.');
}

/** Every violation of `limits`, each naming the field path where it occurs. Never recurses. */
export function checkBodyShape(body: unknown, limits: BodyLimits = BODY_LIMITS): FieldError[] {
  const problems: FieldError[] = [];
  const pending: Pending[] = [{ value: body, parent: null, key: '', depth: 0 }];
  let entries = 0;
  while (pending.length && problems.length < MAX_PROBLEMS) {
    const node = pending.pop()!;
    const { value, depth } = node;
    if (typeof value === 'string') {
      if (value.length > limits.maxStringLength) {
        const field = pathOf(node) || '(body)';
        problems.push({ field, message: `${field} is longer than ${limits.maxStringLength} characters` });
      }
      continue;
    }
    if (value instanceof InexactNumber) {
      const path = pathOf(node);
      problems.push({ field: path, message: `${path} is a number that cannot be passed on exactly (too large, too small or too precise); send it as a string` });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth + 1 > limits.maxDepth) {
      const field = pathOf(node) || '(body)';
      problems.push({ field, message: `${field} is nested deeper than ${limits.maxDepth} levels (the whole body may be at most ${limits.maxDepth} levels deep)` });
      continue;
    }
    const array = Array.isArray(value);
    const keys = array ? null : Object.keys(value);
    const count = keys ? keys.length : (value as unknown[]).length;
    entries += count;
    if (entries > limits.maxEntries) {
      return [{ field: '(body)', message: `the body has more than ${limits.maxEntries} fields and array items` }];
    }
    // Last to first onto the stack, so they are checked (and their problems listed) in order.
    for (let i = count - 1; i >= 0; i--) {
      const key = keys ? keys[i] : String(i);
      if (key.length > limits.maxKeyLength) {
        const field = pathOf(node) || '(body)';
        problems.push({ field, message: `${field} has a field name longer than ${limits.maxKeyLength} characters` });
        continue;
      }
      if (!array && RESERVED_NAMES.has(key)) {
        const path = pathOf(node);
        const reserved = path ? `${path}.${key}` : key;
        problems.push({ field: reserved, message: `${reserved} is a reserved name (a member of every JavaScript object); rename the field` });
        continue;
      }
      pending.push({ value: (value as Record<string, unknown>)[key], parent: node, key, depth: depth + 1 });
    }
  }
  return problems.slice(0, MAX_PROBLEMS);
}
