import type { FieldError } from './problem';

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

/** At most this many problems are listed; the rest would only repeat them. */
const MAX_PROBLEMS = 20;

/** Every violation of `limits`, each naming the field path where it occurs. Never recurses. */
export function checkBodyShape(body: unknown, limits: BodyLimits = BODY_LIMITS): FieldError[] {
  const problems: FieldError[] = [];
  const pending: Array<{ value: unknown; path: string; depth: number }> = [{ value: body, path: '', depth: 0 }];
  let entries = 0;
  while (pending.length && problems.length < MAX_PROBLEMS) {
    const { value, path, depth } = pending.pop()!;
    if (typeof value === 'string') {
      if (value.length > limits.maxStringLength) {
        problems.push({ field: path || '(body)', message: `${path || '(body)'} is longer than ${limits.maxStringLength} characters` });
      }
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const field = path || '(body)';
    if (depth + 1 > limits.maxDepth) {
      problems.push({ field, message: `${field} is nested deeper than ${limits.maxDepth} levels (the whole body may be at most ${limits.maxDepth} levels deep)` });
      continue;
    }
    const children: Array<[string, unknown]> = Array.isArray(value) ? value.map((item, index) => [String(index), item]) : Object.entries(value);
    entries += children.length;
    if (entries > limits.maxEntries) {
      return [{ field: '(body)', message: `the body has more than ${limits.maxEntries} fields and array items` }];
    }
    for (const [key, child] of children.reverse()) {
      if (key.length > limits.maxKeyLength) {
        problems.push({ field, message: `${field} has a field name longer than ${limits.maxKeyLength} characters` });
        continue;
      }
      pending.push({ value: child, path: path ? `${path}.${key}` : key, depth: depth + 1 });
    }
  }
  return problems.slice(0, MAX_PROBLEMS);
}
