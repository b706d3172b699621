import jsonata from 'jsonata';
import { WEGROUP_LANGUAGES } from './wegroup-prospect-fields';

/*
 * Small helpers every mapping (the defaults and a source's own) may call: they do what a
 * default mapping needs for every platform (a field left out rather than an empty string, a
 * date in YYYY-MM-DD, a language WeGroup knows), so the JSONata stays a list of fields.
 */

/** A value as trimmed text, or undefined when there is none (null, empty, only spaces, an object). */
export function text(value: unknown): string | undefined {
  if (Array.isArray(value)) return text(value[0]);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/** The first of `values` that has text. */
export function first(values: unknown): string | undefined {
  const list = Array.isArray(values) ? values : [values];
  for (const value of list) {
    const found = text(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

const normalizeKey = (key: string) => key.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * The first of `names` that `object` has with text, the names compared without case, `_`, `-`
 * or spaces (`First_Name`, `first name` and `firstname` are one name): platforms where people
 * name the fields themselves (Zoho webhooks, Typeform refs, Facebook forms).
 */
export function pick(object: unknown, names: unknown): string | undefined {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) return undefined;
  const wanted = (Array.isArray(names) ? names : [names]).filter((name): name is string => typeof name === 'string');
  const byKey = new Map<string, unknown>();
  for (const [key, value] of Object.entries(object)) {
    const normalized = normalizeKey(key);
    if (!byKey.has(normalized) || text(byKey.get(normalized)) === undefined) byKey.set(normalized, value);
  }
  for (const name of wanted) {
    const found = text(byKey.get(normalizeKey(name)));
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * A date as `YYYY-MM-DD`: ISO dates and date-times, epoch milliseconds (HubSpot date
 * properties), Dataverse's `/Date(ms)/`, and `DD/MM/YYYY` (or `MM/DD/YYYY` with order `MDY`:
 * Facebook's date_of_birth). Otherwise undefined.
 */
export function isoDate(value: unknown, order: unknown = 'DMY'): string | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  let match = /^(\d{4})-(\d{2})-(\d{2})(?:$|[T ])/.exec(raw);
  if (match) return validDate(+match[1], +match[2], +match[3]);
  match = /^\/Date\((-?\d+)(?:[+-]\d{4})?\)\/$/.exec(raw) ?? /^(-?\d{9,14})$/.exec(raw);
  if (match) {
    const date = new Date(Number(match[1]));
    return Number.isNaN(date.getTime()) ? undefined : date.toISOString().slice(0, 10);
  }
  match = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(raw);
  if (match) {
    const [a, b, year] = [+match[1], +match[2], +match[3]];
    // Day first (as in Belgium) unless told otherwise; either way, a part over 12 is the day.
    if (a > 12) return validDate(year, b, a);
    if (b > 12) return validDate(year, a, b);
    return order === 'MDY' ? validDate(year, a, b) : validDate(year, b, a);
  }
  return undefined;
}

function validDate(year: number, month: number, day: number): string | undefined {
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

const LANGUAGE_NAMES: Record<string, (typeof WEGROUP_LANGUAGES)[number]> = {
  fr: 'FR',
  fra: 'FR',
  fre: 'FR',
  french: 'FR',
  francais: 'FR',
  français: 'FR',
  nl: 'NL',
  nld: 'NL',
  dut: 'NL',
  dutch: 'NL',
  nederlands: 'NL',
  vlaams: 'NL',
  flemish: 'NL',
  en: 'EN',
  eng: 'EN',
  english: 'EN',
  engels: 'EN',
  anglais: 'EN',
};

/** A locale or language name (`fr`, `nl-BE`, `nl_be`, `English`, `FR`) as FR, NL or EN; undefined for others. */
export function language(value: unknown): string | undefined {
  const raw = text(value)?.toLowerCase();
  if (raw === undefined) return undefined;
  return LANGUAGE_NAMES[raw] ?? LANGUAGE_NAMES[raw.split(/[-_]/)[0]];
}

const COUNTRY_NAMES: Record<string, string> = {
  belgium: 'BE',
  belgique: 'BE',
  belgie: 'BE',
  belgië: 'BE',
  belgien: 'BE',
  netherlands: 'NL',
  'the netherlands': 'NL',
  nederland: 'NL',
  'pays-bas': 'NL',
  holland: 'NL',
  france: 'FR',
  frankrijk: 'FR',
  luxembourg: 'LU',
  luxemburg: 'LU',
  germany: 'DE',
  allemagne: 'DE',
  duitsland: 'DE',
  deutschland: 'DE',
  'united kingdom': 'GB',
  uk: 'GB',
  spain: 'ES',
  espagne: 'ES',
  spanje: 'ES',
  italy: 'IT',
  italie: 'IT',
  italië: 'IT',
  portugal: 'PT',
  switzerland: 'CH',
  suisse: 'CH',
  zwitserland: 'CH',
};

/** A country as an ISO 3166-1 alpha-2 code: a two-letter code as given, or a common name; undefined for others. */
export function countryCode(value: unknown): string | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  if (/^[A-Za-z]{2}$/.test(raw)) return raw.toUpperCase();
  return COUNTRY_NAMES[raw.toLowerCase()];
}

/** Longer lines are passed on whole, never split. */
const MAX_STREET_LINE = 200;

/**
 * One street line split the Belgian way: `Kerkstraat 12 bus 3` → street, housenr, boxnr;
 * `12 rue de la Loi` → street, housenr. A line it cannot split is the street as a whole.
 */
export function streetParts(value: unknown): { street?: string; housenr?: string; boxnr?: string } | undefined {
  const raw = text(value)?.replace(/\s+/g, ' ');
  if (raw === undefined) return undefined;
  // Bounded: the patterns below backtrack over the line, and no real street line is this long.
  if (raw.length > MAX_STREET_LINE) return { street: raw };
  let match = /^(.*?[^\d\s,]),? (\d+[A-Za-z]?)(?:(?: ?(?:bus|boîte|boite|bte|box|b\.?)| ?\/) ?([A-Za-z0-9]+))?$/i.exec(raw);
  if (match) return { street: match[1], housenr: match[2], boxnr: match[3] };
  match = /^(\d+[A-Za-z]?),? ([^\d].*)$/.exec(raw);
  if (match) return { street: match[2], housenr: match[1] };
  return { street: raw };
}

/** A full name as first and last name: the first word, and the rest (`Jan Van den Broeck`). */
export function splitName(value: unknown): { first_name?: string; last_name?: string } | undefined {
  const raw = text(value)?.replace(/\s+/g, ' ');
  if (raw === undefined) return undefined;
  const space = raw.indexOf(' ');
  return space < 0 ? { first_name: raw } : { first_name: raw.slice(0, space), last_name: raw.slice(space + 1) };
}

/** The object without its undefined, null and empty-text members; undefined when nothing is left. */
export function compact(value: unknown): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const kept = Object.entries(value).filter(([, member]) => member !== undefined && member !== null && !(typeof member === 'string' && member.trim() === ''));
  return kept.length ? Object.fromEntries(kept) : undefined;
}

/** Registers the helpers on a compiled expression (as `$text`, `$first`, `$pick` …). */
export function registerMappingFunctions(expression: jsonata.Expression): void {
  expression.registerFunction('text', (value: unknown) => text(value));
  expression.registerFunction('first', (values: unknown) => first(values));
  expression.registerFunction('pick', (object: unknown, names: unknown) => pick(object, names));
  expression.registerFunction('isoDate', (value: unknown, order: unknown) => isoDate(value, order ?? 'DMY'));
  expression.registerFunction('language', (value: unknown) => language(value));
  expression.registerFunction('countryCode', (value: unknown) => countryCode(value));
  expression.registerFunction('streetParts', (value: unknown) => streetParts(value));
  expression.registerFunction('splitName', (value: unknown) => splitName(value));
  expression.registerFunction('compact', (value: unknown) => compact(value));
}
