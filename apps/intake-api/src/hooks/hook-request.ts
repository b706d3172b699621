import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { NativeRequest, SourceDefinition } from '@app/sources';

/** The route platforms post their own webhooks to (as Fastify registers it, versioned). */
export const HOOK_ROUTE = '/v1/hooks/:source';
/** The ops route that shows what a native payload would produce. */
export const PREVIEW_ROUTE = '/v1/sources/:source/preview';

/** 1 MiB: Salesforce sends up to 100 notifications in one message; other platforms a few KB. */
export const HOOK_BODY_LIMIT_BYTES = 1024 * 1024;

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;
const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(;|$)/i;
/** Salesforce Outbound Messages are SOAP: `text/xml`; the other XML types for tools that resend them. */
export const XML_TYPES = ['text/xml', 'application/xml', 'application/soap+xml'];
const XML_TYPE = /^(text\/xml|application\/xml|application\/soap\+xml)\s*(;|$)/i;

/** The body types a route takes, and how its 415 says so. */
export interface BodyTypes {
  accepts(contentType: string): boolean;
  names: string;
}

const JSON_ONLY: BodyTypes = { accepts: (type) => JSON_TYPE.test(type), names: 'application/json' };
const HOOK_TYPES: BodyTypes = {
  accepts: (type) => JSON_TYPE.test(type) || FORM_TYPE.test(type) || XML_TYPE.test(type),
  names: `application/json, application/x-www-form-urlencoded or ${XML_TYPES.join(', ')}`,
};
const PREVIEW_TYPES: BodyTypes = { accepts: (type) => JSON_TYPE.test(type) || XML_TYPE.test(type), names: `application/json or ${XML_TYPES.join(', ')}` };

/**
 * Platforms post their own formats to the hook route (Zoho workflow forms, Salesforce SOAP),
 * and the preview takes what they would post; every other route of the API takes JSON only.
 */
export function bodyTypesOf(route: string | undefined): BodyTypes {
  if (route === HOOK_ROUTE) return HOOK_TYPES;
  if (route === PREVIEW_ROUTE) return PREVIEW_TYPES;
  return JSON_ONLY;
}

export function isJsonType(contentType: string | undefined): boolean {
  return contentType !== undefined && JSON_TYPE.test(contentType);
}

/** What a request is, as far as the hook and preview routes read it. */
export interface ReceivedRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  query: unknown;
  body: unknown;
  rawBody?: Buffer;
}

/**
 * The request as an adapter reads it. Its URL is the one the platform called, which HubSpot
 * signs: PUBLIC_BASE_URL + path when set (behind a proxy that rewrites the host or scheme),
 * else the scheme a proxy reports (X-Forwarded-Proto) or http, and the Host header.
 */
export function nativeRequestOf(request: ReceivedRequest, publicBaseUrl: string | null): NativeRequest {
  return {
    method: request.method,
    url: `${publicBaseUrl ?? requestOrigin(request.headers)}${request.url}`,
    headers: request.headers,
    query: (request.query ?? {}) as NativeRequest['query'],
    rawBody: request.rawBody,
    body: request.body,
  };
}

/** `{x-forwarded-proto|http}://{host}` of a request. */
export function requestOrigin(headers: IncomingHttpHeaders): string {
  const forwarded = headers['x-forwarded-proto'];
  const proto = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0].trim().toLowerCase();
  return `${proto === 'https' ? 'https' : 'http'}://${headers.host ?? 'localhost'}`;
}

/** The URL to give the platform for this source. */
export function hookUrl(origin: string, source: string): string {
  return `${origin}/v1/hooks/${encodeURIComponent(source)}`;
}

/**
 * An event's deduplication id: the source and the platform's event id, so a redelivery of the
 * event is a replay, and two sources' ids never collide (nor a key of POST /v1/leads: `key:`, `ref:`).
 */
export function nativeDedupId(source: string, eventId: string): string {
  return createHash('sha256').update(`${source}\nevent:${eventId}`).digest('hex');
}

/**
 * Whether a source proves itself with its headers (or query) alone, so a request that fails
 * the check can be refused before its body is read: basic auth (Pipedrive), a shared token
 * (Zoho, Dynamics), an API key (`json`; HubSpot without a client secret). A signature covers
 * the body, so those types read it first.
 */
export function authenticatesByHeaders(source: SourceDefinition): boolean {
  const { credentials } = source;
  switch (credentials.type) {
    case 'pipedrive':
    case 'zoho':
    case 'dynamics':
    case 'json':
      return true;
    case 'hubspot':
      return !credentials.client_secret;
    default:
      return false;
  }
}
