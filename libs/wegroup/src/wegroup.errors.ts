/**
 * WeGroup's failures in words. Whether one is worth another try (its kind) is the delivery
 * policy's call (`@app/leads` delivery-policy.ts): transient failures are retried on the
 * schedule; permanent ones end the lead as `failed` with the reason in words.
 */
export type FailureKind = 'transient' | 'permanent';

export const BODY_LIMIT = 2048;

export function truncate(text: string | null | undefined, limit = BODY_LIMIT): string | null {
  if (text === null || text === undefined || text === '') return null;
  return text.length > limit ? `${text.slice(0, limit)}… (truncated)` : text;
}

export class WeGroupError extends Error {
  constructor(
    message: string,
    /** Null for one of WeGroup's answers: the delivery policy classifies it by its status. */
    readonly kind: FailureKind | null,
    readonly statusCode: number | null = null,
    readonly body: string | null = null,
    /** WeGroup's Retry-After, in ms from now, when it sent one. */
    readonly retryAfterMs: number | null = null,
    /** The message without WeGroup's own words (which can echo lead data), for places kept in clear. */
    readonly summary: string = message,
  ) {
    super(message);
    this.name = 'WeGroupError';
  }

  /**
   * What ops read where nothing is sealed (the job's failure reason, log lines): the summary
   * plus WeGroup's own codes and messages, never the values it may echo.
   */
  get reason(): string {
    const words = this.body ? describeErrorBody(this.body) : null;
    return bound(words ? `${this.summary}: ${words}` : this.summary, REASON_LIMIT);
  }
}

/** The longest failure reason kept in clear. */
export const REASON_LIMIT = 300;

function bound(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

/** A code such as `AUTHENTICATION_EXPIRED`, `value_error.missing` or `4221`: no room for a value. */
const CODE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/**
 * Free text from WeGroup with anything that looks like a value hidden: quoted text, e-mail
 * addresses, URLs, and words holding a digit that are long enough to be a VIN, a phone or
 * plate number, a date or an IBAN. What stays are words ("invalid vin", "field required").
 */
export function maskValues(text: string): string {
  return text
    .replace(/"[^"]*"|“[^”]*”|«[^»]*»/g, '…')
    // Single quotes only around a value, not the apostrophe of "doesn't".
    .replace(/(^|[^A-Za-z0-9])'[^']*'(?![A-Za-z0-9])/g, '$1…')
    .replace(/[^\s@]+@[^\s@]+/g, '…')
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '…')
    .replace(/[^\s,;()\[\]]*\d[^\s,;()\[\]]*/g, (word) => (word.replace(/[^A-Za-z0-9]/g, '').length >= 5 ? '…' : word))
    .replace(/\s+/g, ' ')
    .trim();
}

function issueLocation(loc: unknown): string {
  if (!Array.isArray(loc)) return '';
  // FastAPI prefixes every location with where it was read: the body is the only place here.
  const path = loc.filter((part, index) => !(index === 0 && part === 'body')).filter((part) => typeof part === 'string' || typeof part === 'number');
  return path.map((part) => (typeof part === 'string' && CODE.test(part) ? part : typeof part === 'number' ? String(part) : '…')).join('.');
}

/**
 * WeGroup's error answer in words, for places kept in clear: FastAPI's
 * `{detail: [{loc, msg, type}]}` as `prospect.first_name: field required` (the validator's
 * message, values masked), or the codes of its `{code, detail, domain, error, formatted,
 * msg, rpc_code}` shape (`PROSPECT_EXISTS, 409`). Never `input` or `ctx`, nor free text
 * (`detail`, `formatted`, `message` sentences), which can echo the lead.
 * Null when the body says nothing usable (not JSON, HTML error pages, …).
 */
export function describeErrorBody(body: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  const fields = parsed as Record<string, unknown>;
  if (Array.isArray(fields.detail)) {
    const issues = fields.detail
      .filter((issue): issue is Record<string, unknown> => issue !== null && typeof issue === 'object')
      .map((issue) => {
        const where = issueLocation(issue.loc);
        const what = typeof issue.msg === 'string' ? maskValues(issue.msg) : typeof issue.type === 'string' && CODE.test(issue.type) ? issue.type : 'invalid';
        return where ? `${where}: ${what}` : what;
      });
    return issues.length > 0 ? issues.join('; ') : null;
  }
  // Only codes: WeGroup's free text (`detail`, `formatted`, `message`) can quote the prospect.
  const codes = [fields.msg, fields.error, fields.code, fields.rpc_code, fields.detail]
    .filter((value): value is string | number => (typeof value === 'string' && CODE.test(value)) || (typeof value === 'number' && Number.isFinite(value)))
    .map(String)
    .filter((value, index, all) => all.indexOf(value) === index);
  return codes.length > 0 ? codes.join(', ') : null;
}

/** Parses Retry-After: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined | null, now = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** The explanation a person reads in `last_error`. */
export function describeStatus(status: number, body: string | null, authScheme: 'apikey' | 'bearer'): string {
  const detail = body ? `: ${extractMessage(body)}` : '';
  if (status === 401) {
    return authScheme === 'apikey'
      ? `WeGroup refused the API token (401): check WEGROUP_API_TOKEN${detail}`
      : `WeGroup refused the access token (401)${detail}`;
  }
  if (status === 403) return `WeGroup denied permission (403): the credentials lack a scope or access to this distribution${detail}`;
  if (status === 404) return `WeGroup does not know this distribution or endpoint (404)${detail}`;
  if (status === 429) return `WeGroup rate-limited the request (429)${detail}`;
  return `WeGroup answered ${status}${detail}`;
}

/** WeGroup error bodies are JSON with a `detail` or `message`; fall back to the raw text. */
export function extractMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    for (const key of ['detail', 'message', 'msg', 'error_description', 'error']) {
      const value = parsed?.[key];
      if (typeof value === 'string') return truncate(value, 500) ?? '';
      if (value !== undefined) return truncate(JSON.stringify(value), 500) ?? '';
    }
  } catch {
    // not JSON
  }
  return truncate(body.replace(/\s+/g, ' ').trim(), 500) ?? '';
}

/** Network-level failures (no HTTP answer at all). */
export function describeNetworkError(code: string | undefined, message: string): string {
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || /timeout/i.test(message)) {
    return 'WeGroup did not answer in time (timeout)';
  }
  if (code === 'ECONNREFUSED') return 'WeGroup refused the connection (ECONNREFUSED)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `WeGroup host could not be resolved (${code})`;
  if (code === 'ECONNRESET' || code === 'EPIPE') return `Connection to WeGroup was reset (${code})`;
  return `Network error talking to WeGroup (${code ?? message})`;
}
