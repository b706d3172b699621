import { InexactNumber } from '@app/leads';

// The shape limits are part of the lead rules (@app/leads), which the worker also applies to
// what a native source's mapping produced; re-exported here for the intake's own callers.
export { BODY_LIMITS, checkBodyShape, InexactNumber, MAX_LISTED_PROBLEMS } from '@app/leads';
export type { BodyLimits } from '@app/leads';

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

const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether, in the JSON text `raw`, the value of the body's top-level member `member` (its last
 * one, as JSON.parse keeps) surely holds more than `max` object members and array items: read
 * from the text, before it is parsed. A parsed body of many tiny fields costs the heap ten
 * times its bytes, so a body that the entry count would refuse anyway is refused unparsed.
 * Members and items are at least the commas between them; a text with no more than `max`
 * commas in all is answered at once, and only one with more is read byte by byte.
 */
export function memberHasMoreEntriesThan(raw: Buffer, member: string, max: number): boolean {
  let commas = 0;
  for (let at = raw.indexOf(COMMA); at !== -1; at = raw.indexOf(COMMA, at + 1)) if (++commas > max) break;
  if (commas <= max) return false;
  let depth = 0;
  let inString = false;
  let expectKey = false;
  let keyStart = -1;
  let inMember = false;
  let count = 0;
  let last = 0;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) {
        inString = false;
        if (keyStart !== -1) {
          inMember = keyOf(raw, keyStart, i + 1) === member;
          if (inMember) count = 0;
          keyStart = -1;
          expectKey = false;
        }
      }
      continue;
    }
    switch (byte) {
      case QUOTE:
        inString = true;
        if (depth === 1 && expectKey) keyStart = i;
        break;
      case 0x7b: // {
        if (++depth === 1) expectKey = true;
        break;
      case 0x5b: // [
        depth++;
        break;
      case 0x7d: // }
      case 0x5d: // ]
        depth--;
        break;
      case COMMA:
        if (depth === 1) {
          if (inMember) last = count;
          inMember = false;
          expectKey = true;
        } else if (depth > 1 && inMember) count++;
        break;
    }
  }
  if (inMember) last = count;
  return last > max;
}

function keyOf(raw: Buffer, start: number, end: number): string | undefined {
  try {
    return JSON.parse(raw.toString('utf8', start, end)) as string;
  } catch {
    return undefined;
  }
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
