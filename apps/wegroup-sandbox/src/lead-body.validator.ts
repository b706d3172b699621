/**
 * Validates a lead body the way WeGroup's FastAPI/pydantic (v1 error format) service does:
 * every problem is reported, each with `loc`, `msg` and `type`.
 */
export type Loc = (string | number)[];

export interface ValidationIssue {
  loc: Loc;
  msg: string;
  type: string;
  ctx?: Record<string, unknown>;
}

const TOP_LEVEL_KEYS = new Set(['origin', 'backref', 'prospect', 'source']);
const URL_MAX_LENGTH = 2083;
const ALLOWED_SCHEMES = ['http', 'https'];

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const missing = (loc: Loc): ValidationIssue => ({ loc, msg: 'field required', type: 'value_error.missing' });
const noneNotAllowed = (loc: Loc): ValidationIssue => ({ loc, msg: 'none is not an allowed value', type: 'type_error.none.not_allowed' });
const notStr = (loc: Loc): ValidationIssue => ({ loc, msg: 'str type expected', type: 'type_error.str' });
const notDict = (loc: Loc): ValidationIssue => ({ loc, msg: 'value is not a valid dict', type: 'type_error.dict' });
const notList = (loc: Loc): ValidationIssue => ({ loc, msg: 'value is not a valid list', type: 'type_error.list' });
const tooShort = (loc: Loc, limit: number): ValidationIssue => ({
  loc,
  msg: `ensure this value has at least ${limit} characters`,
  type: 'value_error.any_str.min_length',
  ctx: { limit_value: limit },
});
const tooLong = (loc: Loc, limit: number): ValidationIssue => ({
  loc,
  msg: `ensure this value has at most ${limit} characters`,
  type: 'value_error.any_str.max_length',
  ctx: { limit_value: limit },
});

/** Optional field: absent or null is fine. Returns true when a value is present and must be checked. */
function present(obj: Obj, key: string): boolean {
  return obj[key] !== undefined && obj[key] !== null;
}

/** Required field: pushes the missing/null issue and returns false when there is nothing to check. */
function required(obj: Obj, key: string, loc: Loc, issues: ValidationIssue[]): boolean {
  if (obj[key] === undefined) {
    issues.push(missing(loc));
    return false;
  }
  if (obj[key] === null) {
    issues.push(noneNotAllowed(loc));
    return false;
  }
  return true;
}

function checkString(value: unknown, loc: Loc, issues: ValidationIssue[], minLength = 0): void {
  if (typeof value !== 'string') issues.push(notStr(loc));
  else if (minLength > 0 && value.trim().length < minLength) issues.push(tooShort(loc, minLength));
}

function checkHttpUrl(value: unknown, loc: Loc, issues: ValidationIssue[]): void {
  if (typeof value !== 'string') return void issues.push(notStr(loc));
  const url = value.trim();
  if (url.length < 1) return void issues.push(tooShort(loc, 1));
  if (url.length > URL_MAX_LENGTH) return void issues.push(tooLong(loc, URL_MAX_LENGTH));
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  if (!scheme) return void issues.push({ loc, msg: 'invalid or missing URL scheme', type: 'value_error.url.scheme' });
  if (!ALLOWED_SCHEMES.includes(scheme[1].toLowerCase())) {
    return void issues.push({ loc, msg: 'URL scheme not permitted', type: 'value_error.url.scheme', ctx: { allowed_schemes: ALLOWED_SCHEMES } });
  }
  let host = '';
  try {
    host = new URL(url).hostname;
  } catch {
    host = '';
  }
  if (!host) issues.push({ loc, msg: 'URL host invalid', type: 'value_error.url.host' });
}

function checkProspect(prospect: unknown, issues: ValidationIssue[]): void {
  const loc: Loc = ['body', 'prospect'];
  if (!isObject(prospect)) return void issues.push(notDict(loc));
  for (const key of ['first_name', 'last_name']) {
    if (required(prospect, key, [...loc, key], issues)) checkString(prospect[key], [...loc, key], issues, 1);
  }
  if (present(prospect, 'callbacks')) {
    const callbacks = prospect.callbacks;
    if (!Array.isArray(callbacks)) issues.push(notList([...loc, 'callbacks']));
    else callbacks.forEach((cb, i) => checkHttpUrl(cb, [...loc, 'callbacks', i], issues));
  }
  if (present(prospect, 'external_ref')) {
    const refLoc: Loc = [...loc, 'external_ref'];
    const ref = prospect.external_ref;
    if (!isObject(ref)) issues.push(notDict(refLoc));
    else {
      if (required(ref, 'external_ref', [...refLoc, 'external_ref'], issues)) checkString(ref.external_ref, [...refLoc, 'external_ref'], issues);
      if (present(ref, 'external_ref_company')) checkString(ref.external_ref_company, [...refLoc, 'external_ref_company'], issues);
    }
  }
  if (present(prospect, 'risk_objects') && !isObject(prospect.risk_objects)) issues.push(notDict([...loc, 'risk_objects']));
}

/** Returns every problem of a lead body (empty when valid). `undefined` means no body was sent. */
export function validateLeadBody(body: unknown): ValidationIssue[] {
  if (body === undefined) return [missing(['body'])];
  if (!isObject(body)) return [notDict(['body'])];
  const issues: ValidationIssue[] = [];
  if (present(body, 'origin')) checkString(body.origin, ['body', 'origin'], issues);
  if (present(body, 'backref')) checkHttpUrl(body.backref, ['body', 'backref'], issues);
  if (required(body, 'prospect', ['body', 'prospect'], issues)) checkProspect(body.prospect, issues);
  // `source` is documented as lead metadata without a published type: accepted as is.
  for (const key of Object.keys(body)) {
    if (!TOP_LEVEL_KEYS.has(key)) issues.push({ loc: ['body', key], msg: 'extra fields not permitted', type: 'value_error.extra' });
  }
  return issues;
}

/** The 422 issue FastAPI reports for a body that is not valid JSON. */
export function jsonDecodeIssue(message: string): ValidationIssue {
  const position = /position (\d+)/.exec(message);
  return {
    loc: position ? ['body', Number(position[1])] : ['body'],
    msg: 'Invalid JSON: ' + message,
    type: 'value_error.jsondecode',
  };
}
