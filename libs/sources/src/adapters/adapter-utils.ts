import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { canonicalJson } from '@app/leads';
import { HookAuthError, MAX_EVENTS_PER_REQUEST, NativePayloadError, NativeRequest } from '../source-adapter';
import { SourceDefinition, SourceProblem } from '../source.types';

/** One header's value (a repeated header joined), or undefined when absent or empty. */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  const text = Array.isArray(value) ? value.join(', ') : value;
  return text === undefined || text === '' ? undefined : text;
}

/** One query parameter (the first when repeated), or undefined. */
export function queryParam(request: NativeRequest, name: string): string | undefined {
  const value = request.query?.[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text === '' ? undefined : text;
}

/**
 * Whether two secrets are equal, in constant time whatever their lengths: both are hashed
 * first, so neither the length nor a common prefix shows in the time taken.
 */
export function secretEquals(presented: string | Buffer, expected: string | Buffer): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

export function sha256(value: string | Buffer): Buffer {
  return createHash('sha256').update(value).digest();
}

export function hmacSha256(secret: string, ...parts: Array<string | Buffer>): Buffer {
  const hmac = createHmac('sha256', secret);
  for (const part of parts) hmac.update(part);
  return hmac.digest();
}

/** The raw body bytes (what signatures cover); empty when there is none. */
export function rawBytes(request: NativeRequest): Buffer {
  if (request.rawBody) return request.rawBody;
  if (typeof request.body === 'string') return Buffer.from(request.body);
  return Buffer.alloc(0);
}

/** A 401 naming the header or parameter. */
export function refuse(field: string, message: string): HookAuthError {
  return new HookAuthError(message, field);
}

/** A 400 (or a logged 200) listing the problems, each naming its field. */
export function payloadError(platform: string, problems: SourceProblem[]): NativePayloadError {
  const fields = [...new Set(problems.map((problem) => problem.field))].slice(0, 10);
  return new NativePayloadError(`Not a ${platform} payload this source takes: ${problems.length} problem${problems.length === 1 ? '' : 's'} in ${fields.join(', ')}.`, problems);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** An id as text: a non-empty string, or a whole number. */
export function idText(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'string' && value.trim() !== '' && value.length <= 255) return value.trim();
  return undefined;
}

/** The body as a JSON object (or a problem naming it). */
export function jsonObjectBody(request: NativeRequest, platform: string): Record<string, unknown> {
  if (!isObject(request.body)) throw payloadError(platform, [{ field: '(body)', message: '(body) must be a JSON object' }]);
  return request.body;
}

export function tooManyEvents(platform: string, field: string, count: number): NativePayloadError {
  return payloadError(platform, [{ field, message: `${field} holds ${count} events; at most ${MAX_EVENTS_PER_REQUEST} are taken per request` }]);
}

/** `sha256:<hex>` of the body's canonical JSON: the event id of a body that carries none. */
export function bodyDigest(body: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`;
}

/** The credentials of a source, typed by its type (the config guarantees they match). */
export function credentialsOf<T extends SourceDefinition['credentials']['type']>(
  source: SourceDefinition,
  type: T,
): Extract<SourceDefinition['credentials'], { type: T }> {
  if (source.credentials.type !== type) throw new Error(`source "${source.name}" is not of type ${type}`);
  return source.credentials as Extract<SourceDefinition['credentials'], { type: T }>;
}
