import type { IncomingHttpHeaders } from 'node:http';
import { randomUUID } from 'node:crypto';

/**
 * The request id follows a lead: the intake takes the caller's `X-Request-ID` (when it is a
 * sane one) or makes one, answers with it, stores it in the job, the worker logs every line
 * about the lead with it and sends it to WeGroup as `X-Request-ID`.
 */
export const REQUEST_ID_HEADER = 'x-request-id';

/** What we accept from a caller: short, and safe to put in a log line and a header. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID_PATTERN.test(value);
}

/** The caller's X-Request-ID when valid, else a new UUID. */
export function requestIdFor(headers: IncomingHttpHeaders): string {
  const incoming = headers[REQUEST_ID_HEADER];
  return isValidRequestId(incoming) ? incoming : randomUUID();
}

/**
 * FastifyAdapter options: Fastify names each request by the rule above, so `request.id`,
 * the log lines and the `X-Request-ID` answer agree.
 */
export const FASTIFY_REQUEST_ID_OPTIONS = {
  requestIdHeader: false as const,
  genReqId: (req: { headers: IncomingHttpHeaders }): string => requestIdFor(req.headers),
};

interface RequestIdHooks {
  addHook(name: 'onRequest', hook: (request: { id: string }, reply: { header(name: string, value: string): unknown }, done: () => void) => void): unknown;
}

/** Answers every request with its id in `X-Request-ID` (errors included). */
export function echoRequestId(fastify: RequestIdHooks): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('X-Request-ID', request.id);
    done();
  });
}
