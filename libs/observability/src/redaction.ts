/**
 * What must never reach a log line, in one place. Every app's pino configuration
 * (logging.ts) uses these, so a field or header added here is hidden everywhere.
 *
 * Three layers, because any one of them can miss something:
 * - pino's own `redact` paths for the places we know (request headers);
 * - a key rule applied to every object logged: credentials by name (`*token*`, `*secret*`, …)
 *   and the lead's personal data (prospect fields), at any depth;
 * - a text rule for messages: credentials after `apikey`/`bearer`/`basic`, webhook secrets
 *   and signatures.
 * Request bodies are never logged: the request serializer keeps a fixed set of fields.
 */

export const REDACTED = '[REDACTED]';

/** Keys whose values are credentials, whatever object they appear in (case-insensitive). */
export const CREDENTIAL_KEY = /authori[sz]ation|api[-_]?key|cookie|token|secret|passw(?:or)?d|passphrase|signature|credential|session|private[-_]?key|idempotency/i;

/**
 * Keys of the lead and its prospect (WeGroup's customer-lead shape, plus what CRMs commonly
 * add). Logged objects never carry them in clear; where they hold a nested object, the
 * whole object is hidden.
 */
export const PERSONAL_KEYS: ReadonlySet<string> = new Set(
  [
    'lead',
    'sealed_lead',
    'prospect',
    'body',
    'payload',
    'first_name',
    'last_name',
    'firstname',
    'lastname',
    'name',
    'full_name',
    'email',
    'e_mail',
    'mail',
    'phone',
    'telephone',
    'mobile',
    'gsm',
    'address',
    'street',
    'city',
    'zipcode',
    'postal_code',
    'birth',
    'birthdate',
    'birth_date',
    'date_of_birth',
    'national_register_number',
    'national_id',
    'iban',
    'vin',
    'license_plate',
    'plate',
    'risk_objects',
    'callbacks',
    'backref',
    'external_ref',
  ].map((key) => key.toLowerCase()),
);

export function isSensitiveKey(key: string): boolean {
  return CREDENTIAL_KEY.test(key) || PERSONAL_KEYS.has(key.toLowerCase());
}

const MAX_DEPTH = 8;

/**
 * A copy of a logged value with credentials and personal data replaced. Only plain objects
 * and arrays are walked: class instances (the raw request, errors) are left to their
 * serializers, which pick safe fields themselves.
 */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[Object]';
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    copy[key] = isSensitiveKey(key) && item !== undefined && item !== null ? REDACTED : redactValue(item, depth + 1);
  }
  return copy;
}

/** The top level of a logged object; `req`, `res` and `err` belong to their serializers. */
export function redactLogObject(object: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(object)) {
    if (key === 'req' || key === 'res' || key === 'err' || key === 'msg') copy[key] = item;
    else copy[key] = isSensitiveKey(key) && item !== undefined && item !== null ? REDACTED : redactValue(item, 1);
  }
  return copy;
}

const TEXT_RULES: Array<[RegExp, string]> = [
  // Authorization schemes followed by their credential: "apikey abc", "Bearer eyJ…", "Basic b3Bz…".
  // (at least 12 characters, so prose such as "basic auth" stays readable).
  [/\b(apikey|api-key|bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{12,}/gi, `$1$2${REDACTED}`],
  // Standard Webhooks secrets and signatures.
  [/\bwhsec_[A-Za-z0-9+/=_-]+/g, `whsec_${REDACTED}`],
  [/\b(v1a?),[A-Za-z0-9+/=]{16,}/g, `$1,${REDACTED}`],
];

/**
 * key=value pairs of credentials in URLs or text: ?access_token=…, client_secret=…, code=, state=.
 * A name is matched whole (never from inside a run of name characters, hence the lookbehind)
 * and judged afterwards: a pattern that tried every start inside a long `a-a-a-…` run was
 * quadratic, and any caller could send such a path.
 */
const KEY_VALUE = /(?<![A-Za-z0-9_-])([A-Za-z0-9_-]+)=([^&\s"']+)/g;
const CREDENTIAL_NAME = /token|secret|password|api[-_]?key/i;
/** `code` or `state` as a whole name, or as its last `-` part (`oauth-code`). */
const OAUTH_NAME = /(?:^|-)(?:code|state)$/i;

/** Longer texts are cut before scrubbing, so a log line costs bounded work whatever a caller sends. */
export const MAX_SCRUBBED_CHARS = 16 * 1024;

/**
 * What every rule above needs in a text to match: a scheme's name, `whsec_`, the comma of a
 * signature or the `=` of a pair. A text without any (most header values and messages) is
 * passed by one scan instead of four.
 */
const MAY_HOLD_CREDENTIALS = /[=,]|whsec_|api-?key|bearer|basic/i;

/** Hides credentials that appear inside free text (log messages, error messages). Linear in the text. */
export function scrubText(text: string): string {
  let result = text.length > MAX_SCRUBBED_CHARS ? `${text.slice(0, MAX_SCRUBBED_CHARS)} …[${text.length - MAX_SCRUBBED_CHARS} more characters]` : text;
  if (!MAY_HOLD_CREDENTIALS.test(result)) return result;
  for (const [pattern, replacement] of TEXT_RULES) result = result.replace(pattern, replacement);
  return result.replace(KEY_VALUE, (pair, name: string) => (CREDENTIAL_NAME.test(name) || OAUTH_NAME.test(name) ? `${name}=${REDACTED}` : pair));
}

/**
 * Headers that carry a whole URL, query included (a browser's Referer, htmx's HX-Current-URL:
 * the ops console's search for an external ref), hidden like the request's own.
 */
const URL_HEADERS = new Set(['referer', 'hx-current-url']);

/** Header names to values, credentials hidden; values of other headers kept (bounded). */
export function redactHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const safe: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const text = typeof value === 'string' && URL_HEADERS.has(name.toLowerCase()) ? redactUrl(value) : value;
    safe[name] = isSensitiveKey(name) ? REDACTED : typeof text === 'string' ? scrubText(text.slice(0, 256)) : text;
  }
  return safe;
}

/** Path segments that are credentials: the token of a WeGroup callback URL (`/v1/callbacks/wegroup/{lead id}/{token}`). */
const SECRET_PATH = /^(\/v1\/callbacks\/wegroup\/[^/?#]*\/)[^/?#]+/;

/** A request target with every query value hidden (they can carry OAuth codes, tokens, ids), and a token in its path. */
export function redactUrl(target: string | undefined): string | undefined {
  if (target === undefined) return undefined;
  const url = target.replace(SECRET_PATH, `$1${REDACTED}`);
  const question = url.indexOf('?');
  if (question < 0) return url;
  const query = url
    .slice(question + 1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => `${pair.split('=')[0]}=${REDACTED}`)
    .join('&');
  return `${url.slice(0, question)}?${query}`;
}
