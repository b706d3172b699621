import type { IncomingHttpHeaders } from 'node:http';
import { FetchRequest, NativeEvent, SourceDefinition, SourceProblem, SourceType } from './source.types';

/** A native request as the intake received it. */
export interface NativeRequest {
  method: string;
  /** The full URL the platform called (scheme, host, path and query), as HubSpot signs it: PUBLIC_BASE_URL + path when set. */
  url: string;
  headers: IncomingHttpHeaders;
  query: Record<string, string | string[] | undefined>;
  /** The body bytes as received (signatures cover these); undefined without a body. */
  rawBody: Buffer | undefined;
  /** JSON parsed, form fields as an object, XML as its text. */
  body: unknown;
}

/** Refused: not the platform, or not this source (answered 401; nothing is stored). */
export class HookAuthError extends Error {
  constructor(
    message: string,
    /** The header or parameter at fault. */
    readonly field: string,
  ) {
    super(message);
    this.name = 'HookAuthError';
  }
}

/** Not what this type expects (answered 400, or a logged 200 where a 4xx would disable the webhook). */
export class NativePayloadError extends Error {
  constructor(
    message: string,
    readonly problems: SourceProblem[],
  ) {
    super(message);
    this.name = 'NativePayloadError';
  }
}

/** The leads in one request, and the events it carried that are not leads (another entity, an update …). */
export interface SplitRequest {
  events: NativeEvent[];
  ignored: Array<{ eventId: string | null; reason: string }>;
}

/** What a successful authentication learnt about the request. */
export interface HookAuthentication {
  /** A Standard Webhooks `webhook-id` verified by the signature (json sources with secrets): the event id. */
  webhookId?: string;
}

/** What split() may use beyond the request: what authenticate() verified. */
export interface SplitContext {
  webhookId?: string;
}

/** At most this many events (leads) in one native request: HubSpot and Salesforce send up to 100. */
export const MAX_EVENTS_PER_REQUEST = 100;

/** What each type knows about its platform. Pure: no I/O (fetching is the fetcher's). */
export interface SourceAdapter {
  readonly type: SourceType;
  /** Name shown to people: `HubSpot`, `Facebook Lead Ads` …; also the default `origin` and `external_ref_company`. */
  readonly platform: string;
  /** How a request proves it is the platform, in words for GET /v1/sources (never a secret). */
  authMode(source: SourceDefinition): string;
  /** Throws HookAuthError naming the header or parameter at fault. `now` in ms. */
  authenticate(source: SourceDefinition, request: NativeRequest, now: number): HookAuthentication | void;
  /**
   * The events of a request (at most MAX_EVENTS_PER_REQUEST). Throws NativePayloadError naming
   * the fields at fault. `context`: what authenticate() returned (json sources key on a verified webhook-id).
   */
  split(request: NativeRequest, context?: SplitContext): SplitRequest;
  /**
   * The GET verification handshake of a platform that has one (facebook): the challenge to echo
   * as text/plain, or throws HookAuthError naming the parameter at fault. Absent: no handshake.
   */
  verificationChallenge?(source: SourceDefinition, request: NativeRequest): string;
  /** The record to fetch before this event can be mapped, or null. */
  fetchFor(event: NativeEvent): FetchRequest | null;
  /** The document the JSONata mapping reads (documented per type in the README). */
  mappingInput(source: SourceDefinition, event: NativeEvent, fetched: unknown | null): unknown;
}
