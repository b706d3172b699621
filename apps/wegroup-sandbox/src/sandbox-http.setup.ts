import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LEAD_ROUTE, SANDBOX_BODY_LIMIT } from './sandbox.constants';
import type { SandboxStateService } from './sandbox-state.service';
import type { RecordedRequest } from './sandbox.types';

/** A body sent as application/json that is not valid JSON: kept raw so it can be recorded. */
export class InvalidJsonBody {
  constructor(
    readonly text: string,
    readonly message: string,
  ) {}
}

/** What the body parsers hand to handlers: parsed JSON, an {@link InvalidJsonBody}, raw text, or undefined. */
export type ParsedBody = unknown;

const records = new WeakMap<FastifyRequest, RecordedRequest>();

/** The record the onRequest hook made for a lead request. */
export function recordOf(request: FastifyRequest): RecordedRequest | undefined {
  return records.get(request);
}

/** The value to keep in a request record for a parsed body. */
export function recordedBody(body: ParsedBody): unknown {
  if (body === undefined) return null;
  if (body instanceof InvalidJsonBody) return body.text;
  return body;
}

/**
 * Body parsing and request recording, done on Fastify itself:
 * - Every body is read (up to 1 MB) whatever its content type, so the lead handler sees and
 *   records requests that it then refuses (415, invalid JSON) instead of Fastify answering first.
 * - The lead route is recorded in `onRequest`, before the body is read, so even a request
 *   refused for its size (413) is kept; `onResponse` notes the status of such answers.
 */
export function configureSandboxHttp(fastify: FastifyInstance, state: SandboxStateService): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: SANDBOX_BODY_LIMIT }, (_request, text, done) => {
    const body = text as string;
    if (body === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body));
    } catch (error) {
      done(null, new InvalidJsonBody(body, error instanceof Error ? error.message : String(error)));
    }
  });
  fastify.addContentTypeParser('*', { parseAs: 'string', bodyLimit: SANDBOX_BODY_LIMIT }, (_request, text, done) => {
    done(null, text === '' ? undefined : text);
  });

  fastify.addHook('onRequest', (request, _reply, done) => {
    if (request.routeOptions.url === LEAD_ROUTE && request.method === 'POST') {
      const params = request.params as { distribution_id?: string };
      records.set(request, state.recordRequest(request.method, request.url, params.distribution_id ?? '', request.headers));
    }
    done();
  });

  fastify.addHook('onResponse', (request, reply, done) => {
    const record = records.get(request);
    if (record && record.outcome === 'pending') {
      record.outcome = 'answered';
      record.status = reply.statusCode;
      record.answered_at = new Date().toISOString();
    }
    done();
  });
}
