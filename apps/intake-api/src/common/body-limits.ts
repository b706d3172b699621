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
 * (Infinity, which is sent as null, or a rounded value). See {@link markInexactNumbers}.
 */
export class InexactNumber {}

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
    if (value instanceof InexactNumber) {
      problems.push({ field: path, message: `${path} is a number that cannot be passed on exactly (too large, too small or too precise); send it as a string` });
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
      if (!Array.isArray(value) && RESERVED_NAMES.has(key)) {
        const reserved = path ? `${path}.${key}` : key;
        problems.push({ field: reserved, message: `${reserved} is a reserved name (a member of every JavaScript object); rename the field` });
        continue;
      }
      pending.push({ value: child, path: path ? `${path}.${key}` : key, depth: depth + 1 });
    }
  }
  return problems.slice(0, MAX_PROBLEMS);
}

/**
 * Whether the value `body` holds, over all its levels, more than `max` object members and array
 * items. Stops counting once over, and never recurses.
 */
export function hasMoreEntriesThan(body: unknown, max: number): boolean {
  const pending: unknown[] = [body];
  let entries = 0;
  while (pending.length) {
    const value = pending.pop();
    if (value === null || typeof value !== 'object') continue;
    const children = Array.isArray(value) ? value : Object.values(value);
    entries += children.length;
    if (entries > max) return true;
    for (const child of children) if (child !== null && typeof child === 'object') pending.push(child);
  }
  return false;
}

/**
 * A number literal whose decimal value is not exactly that of the double JSON.parse makes of it
 * (the double prints as its shortest exact decimal, so comparing the two digit strings, scaled
 * alike, tells). `1.0`, `1e2`, `0.1` are exact; `1e400`, `9007199254740993`, `1e-400` are not.
 */
export function isExactNumber(literal: string): boolean {
  const value = Number(literal);
  if (!Number.isFinite(value)) return false;
  return decimalOf(literal) === decimalOf(String(value));
}

/** `-1.50e3` → `-15e2`: sign, significant digits without leading or trailing zeros, exponent. */
function decimalOf(text: string): string {
  const [, sign, whole, fraction = '', exponent = '0'] = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text)!;
  let digits = `${whole}${fraction}`.replace(/^0+/, '');
  if (digits === '') return '0';
  let scale = Number(exponent) - fraction.length;
  const trailing = /0+$/.exec(digits)?.[0].length ?? 0;
  digits = digits.slice(0, digits.length - trailing);
  scale += trailing;
  return `${sign}${digits}e${scale}`;
}

/** JSON tokens, in order: strings (skipped whole), numbers, punctuation, literals, whitespace. */
const JSON_TOKEN = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[{}[\],:]|true|false|null|\s+/y;
/**
 * A number token that may be inexact: 16 or more digits, or an exponent, right after `:`, `,`
 * or `[`. Most bodies have none, and are not scanned further.
 */
const MAYBE_INEXACT = /[:,[]\s*-?\d[\d.]{15}|[:,[]\s*-?[\d.]+[eE]/;

/**
 * Replaces, in `body` (parsed from `text`), every number whose literal in `text` no double
 * holds exactly by an {@link InexactNumber}, which the body checks then name as a problem.
 * `text` is valid JSON (it was parsed); one linear pass over it, only when a number may be inexact.
 */
export function markInexactNumbers(text: string, body: unknown): void {
  if (!MAYBE_INEXACT.test(text)) return;
  const frames: Array<{ array: boolean; key: string; index: number; awaitingKey: boolean }> = [];
  JSON_TOKEN.lastIndex = 0;
  for (let match = JSON_TOKEN.exec(text); match; match = JSON_TOKEN.exec(text)) {
    const token = match[0];
    const top = frames[frames.length - 1];
    if (token === '{' || token === '[') frames.push({ array: token === '[', key: '', index: 0, awaitingKey: token === '{' });
    else if (token === '}' || token === ']') frames.pop();
    else if (token === ',' && top) {
      if (top.array) top.index++;
      else top.awaitingKey = true;
    } else if (token[0] === '"' && top && !top.array && top.awaitingKey) {
      top.key = JSON.parse(token) as string;
      top.awaitingKey = false;
    } else if (/^-?\d/.test(token) && !isExactNumber(token)) {
      replaceAt(body, frames.map((frame) => (frame.array ? frame.index : frame.key)));
    }
  }
}

function replaceAt(body: unknown, path: Array<string | number>): void {
  if (path.length === 0) return;
  let parent = body as Record<string | number, unknown> | null;
  for (const key of path.slice(0, -1)) {
    parent = parent !== null && typeof parent === 'object' ? (parent[key] as Record<string | number, unknown>) : null;
  }
  const last = path[path.length - 1];
  // With duplicate keys the parsed body kept the last value; replace only a number there.
  if (parent !== null && typeof parent === 'object' && typeof parent[last] === 'number') parent[last] = new InexactNumber();
}

/** Bytes of request bodies being read and checked at once, shared by all requests of the process. */
export class BodyBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  /** Reserves `bytes`, or returns false (reserving nothing) when they do not fit. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.capacity) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  get inUse(): number {
    return this.used;
  }
}
