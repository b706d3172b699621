import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { SANDBOX_OPTIONS } from './sandbox.constants';
import {
  DEFAULT_INTROSPECTION_TIMEOUT_MS,
  MAX_INTROSPECTION_CACHE_MS,
  type IntrospectionOptions,
  type SandboxOptions,
} from './sandbox-options';

/** What the introspection endpoint said about a bearer token. */
export type IntrospectionVerdict =
  /** active, and a bearer access token: the scopes it carries */
  | { active: true; scopes: readonly string[] }
  /** unknown, expired, revoked, or not an access token */
  | { active: false }
  /** the endpoint could not be asked or gave no usable answer */
  | { unavailable: true };

interface CacheEntry {
  scopes: readonly string[];
  until: number;
}

/** Entries kept at most; the oldest go first. */
const MAX_CACHE_ENTRIES = 10_000;

/**
 * Asks an OAuth 2.0 introspection endpoint (RFC 7662) about bearer tokens the sandbox does not
 * know locally, as WeGroup's API checks tokens of its own SSO. Authenticates with
 * client_secret_basic. Active answers are reused for at most a second, keyed by the token's
 * SHA-256 digest; tokens never reach a log line or an error message.
 */
@Injectable()
export class SandboxIntrospectionService {
  private readonly logger = new Logger(SandboxIntrospectionService.name);
  private readonly config?: Required<IntrospectionOptions> & { authorization: string };
  private readonly cache = new Map<string, CacheEntry>();

  constructor(@Inject(SANDBOX_OPTIONS) options: SandboxOptions) {
    const introspection = options.introspection;
    if (!introspection) return;
    if (!/^https?:\/\//i.test(introspection.url) || !URL.canParse(introspection.url)) {
      throw new Error('introspection.url must be an http(s) URL');
    }
    if (!introspection.clientId || !introspection.clientSecret) throw new Error('introspection needs clientId and clientSecret');
    const cacheMs = introspection.cacheMs ?? MAX_INTROSPECTION_CACHE_MS;
    if (!Number.isInteger(cacheMs) || cacheMs < 0 || cacheMs > MAX_INTROSPECTION_CACHE_MS) {
      throw new Error(`introspection.cacheMs must be a whole number from 0 to ${MAX_INTROSPECTION_CACHE_MS}`);
    }
    // RFC 6749 section 2.3.1: both parts form-urlencoded, then base64.
    const credentials = `${formEncode(introspection.clientId)}:${formEncode(introspection.clientSecret)}`;
    this.config = {
      url: introspection.url,
      clientId: introspection.clientId,
      clientSecret: introspection.clientSecret,
      cacheMs,
      timeoutMs: introspection.timeoutMs ?? DEFAULT_INTROSPECTION_TIMEOUT_MS,
      authorization: `Basic ${Buffer.from(credentials).toString('base64')}`,
    };
  }

  get enabled(): boolean {
    return this.config !== undefined;
  }

  async introspect(token: string): Promise<IntrospectionVerdict> {
    const config = this.config;
    if (!config) return { active: false };
    const key = createHash('sha256').update(token).digest('base64url');
    const now = Date.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return { active: true, scopes: cached.scopes };
    if (cached) this.cache.delete(key);

    let response: Response;
    try {
      response = await fetch(config.url, {
        method: 'POST',
        headers: {
          authorization: config.authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        signal: AbortSignal.timeout(config.timeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      this.logger.warn(`Token introspection failed: ${error instanceof Error ? error.message : String(error)}`);
      return { unavailable: true };
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    if (!response.ok || typeof body !== 'object' || body === null || typeof (body as { active?: unknown }).active !== 'boolean') {
      this.logger.warn(`Token introspection answered ${response.status} without a usable {"active": …} body`);
      return { unavailable: true };
    }
    const answer = body as { active: boolean; scope?: unknown; token_type?: unknown; exp?: unknown };
    if (!answer.active) return { active: false };
    // A refresh token (or any non-bearer token) is not an API credential.
    if (typeof answer.token_type === 'string' && answer.token_type.toLowerCase() !== 'bearer') return { active: false };
    const scopes = typeof answer.scope === 'string' ? answer.scope.split(' ').filter((s) => s !== '') : [];

    if (config.cacheMs > 0) {
      let until = now + config.cacheMs;
      if (typeof answer.exp === 'number') until = Math.min(until, answer.exp * 1000);
      if (until > now) {
        if (this.cache.size >= MAX_CACHE_ENTRIES) this.evict(now);
        this.cache.set(key, { scopes, until });
      }
    }
    return { active: true, scopes };
  }

  private evict(now: number): void {
    for (const [key, entry] of this.cache) if (entry.until <= now) this.cache.delete(key);
    while (this.cache.size >= MAX_CACHE_ENTRIES) {
      const oldest = this.cache.keys().next();
      if (oldest.done) break;
      this.cache.delete(oldest.value);
    }
  }
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}
