/**
 * How every WeGroup answer is classified, in one place. Transient failures are retried on
 * the schedule; permanent ones end the lead as `failed` with the reason in words.
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
    readonly kind: FailureKind,
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

  /** WeGroup says the credentials are over their request budget. */
  get rateLimited(): boolean {
    return this.statusCode === 429;
  }
}

/** Parses Retry-After: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined | null, now = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** Request timeouts, throttling and server trouble are worth another try. */
const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export function classifyStatus(status: number): FailureKind | 'delivered' {
  if (status >= 200 && status < 300) return 'delivered';
  if (TRANSIENT_STATUS.has(status)) return 'transient';
  // An unknown 5xx is still the server's trouble; 501/505 say it never will work.
  if (status >= 500 && status !== 501 && status !== 505) return 'transient';
  return 'permanent';
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
