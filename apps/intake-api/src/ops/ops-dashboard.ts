import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import { HttpException, HttpStatus } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { ProblemBody, ProblemException } from '../common/problem';
import { requireOpsRole } from './ops-auth.guard';
import { OpsAuthenticator } from './ops-authenticator';
import { OpsRequest } from './ops-users';
import { opsContentTypeProblem } from './ops-request-policy';
import { LeadOpsService } from './lead-ops.service';

export const OPS_DASHBOARD_PATH = '/ops/queues';

/** Where a replay came from, for the lead's log (`<user> (dashboard)`) and the audit entry. */
export const DASHBOARD = 'dashboard';

/** "Retry all" re-queues at most this many failed leads per click, like POST /v1/ops/leads/retry. */
const RETRY_ALL_LIMIT = 10_000;

/**
 * The dashboard reads everything, and its two retry buttons run our replay (LeadOpsService,
 * the code behind POST /v1/leads/{id}/retry): a fresh schedule, a `replayed` entry in the
 * lead's log, never a delivered lead. Every other action bull-board offers would resend a
 * delivered lead (promote, add, update data), lose an accepted one (clean, remove, empty,
 * obliterate) or step around our schedule and pauses (promote, delay, rate limit,
 * concurrency): refused. The routes are told apart by the route the router matched and its
 * decoded parameters, never by the raw URL, so no spelling of a path reaches another rule.
 */
const RETRY_ONE = `${OPS_DASHBOARD_PATH}/api/queues/:queueName/:jobId/retry`;
const RETRY_ALL = `${OPS_DASHBOARD_PATH}/api/queues/:queueName/retry/:queueStatus`;
const READ_METHODS = new Set(['GET', 'HEAD']);
/** `allowCompletedRetries` (missing from bull-board's typings) hides the retry button of delivered leads. */
const ADAPTER_OPTIONS = { readOnlyMode: false, allowCompletedRetries: false };
const READ_ONLY =
  'The dashboard only reads, besides retrying failed leads. To erase a lead use DELETE /v1/leads/{id}; to re-queue failed leads, POST /v1/leads/{id}/retry or POST /v1/ops/leads/retry.';

/**
 * The page makes no request to another origin: bull-board links Google Fonts, which is
 * removed (its CSS falls back to the system fonts), and this policy refuses any other origin.
 */
export const OPS_DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ');
const EXTERNAL_LINK = /<link\b[^>]*\bhref="(?:https?:)?\/\/[^"]*"[^>]*>\s*/gi;

interface DashboardRequest extends OpsRequest {
  params: Record<string, string>;
}

export interface OpsDashboardDeps {
  queues: Queue[];
  authenticator: OpsAuthenticator;
  ops: LeadOpsService;
}

/**
 * Mounts bull-board at /ops/queues in its own Fastify scope, with the ops credentials on every
 * route of that scope: the page, its static assets and its API alike.
 */
export async function mountOpsDashboard(fastify: FastifyInstance, { queues, authenticator, ops }: OpsDashboardDeps): Promise<void> {
  const serverAdapter = new BullBoardFastifyAdapter();
  serverAdapter.setBasePath(OPS_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, ADAPTER_OPTIONS)),
    serverAdapter,
    options: {
      uiConfig: { boardTitle: 'WeGroup leads' },
      // Second line of defence: should a mutating route ever get past answerAction, bull-board
      // itself refuses to run it.
      handlerHooks: { before: ({ method }) => (method === 'get' ? undefined : { allow: false, status: 403, message: READ_ONLY }) },
    },
  });
  // Errors thrown in this scope (the app's CSRF check included) leave as problem documents.
  serverAdapter.setErrorHandler((error: Error & { statusCode?: number }) => {
    const status = error instanceof HttpException ? error.getStatus() : (error.statusCode ?? 500);
    return { status, body: problemBody(status, status < 500 ? error.message : 'Internal error.') } as never;
  });
  await fastify.register(
    async (scope) => {
      scope.addHook('onRequest', async (request, reply) => {
        void reply.header('Content-Security-Policy', OPS_DASHBOARD_CSP);
        try {
          await authenticator.authenticate(request);
        } catch (error) {
          return sendProblem(reply, error);
        }
      });
      scope.addHook('preHandler', async (request, reply) => {
        try {
          return await answerAction(request as DashboardRequest, reply, queues, ops);
        } catch (error) {
          return sendProblem(reply, error);
        }
      });
      scope.addHook('onSend', async (_request, reply, payload) => {
        const type = String(reply.getHeader('content-type') ?? '');
        return typeof payload === 'string' && type.startsWith('text/html') ? payload.replace(EXTERNAL_LINK, '') : payload;
      });
      await scope.register(serverAdapter.registerPlugin());
    },
    { prefix: OPS_DASHBOARD_PATH },
  );
}

/** Reads pass on to bull-board; the retries are answered here by our replay; the rest is refused. */
async function answerAction(request: DashboardRequest, reply: FastifyReply, queues: Queue[], ops: LeadOpsService): Promise<FastifyReply | undefined> {
  if (READ_METHODS.has(request.method)) return undefined;
  const route = request.routeOptions.url;
  if (request.method !== 'PUT' || (route !== RETRY_ONE && route !== RETRY_ALL)) {
    throw new ProblemException(HttpStatus.FORBIDDEN, READ_ONLY);
  }
  // Any ops user reads the dashboard (lead data and logs are sealed there); retrying is an operator's.
  requireOpsRole(request.opsUser!, 'operator');
  const by = request.opsUser!.name;
  const contentType = opsContentTypeProblem(request, false);
  if (contentType) throw contentType;
  const { queueName, jobId, queueStatus } = request.params;
  if (!queues.some((queue) => queue.name === queueName)) throw new ProblemException(HttpStatus.NOT_FOUND, `No queue named "${queueName.slice(0, 64)}".`);
  if (route === RETRY_ONE) {
    await ops.retry(jobId, by, DASHBOARD);
    return reply.status(HttpStatus.NO_CONTENT).send();
  }
  if (queueStatus === 'completed') throw new ProblemException(HttpStatus.CONFLICT, 'Delivered leads cannot be retried: WeGroup would receive them twice.');
  if (queueStatus !== 'failed') throw new ProblemException(HttpStatus.BAD_REQUEST, `Only failed leads can be retried, not "${queueStatus.slice(0, 32)}" ones.`);
  const { matched, retried } = await ops.retryMany({ limit: RETRY_ALL_LIMIT }, by, DASHBOARD);
  return reply.status(HttpStatus.OK).send({ retried, skipped: matched - retried });
}

function problemBody(status: number, detail: string): ProblemBody {
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail };
}

function sendProblem(reply: FastifyReply, error: unknown): FastifyReply {
  if (!(error instanceof ProblemException)) throw error;
  const status = error.getStatus();
  return reply.status(status).headers(error.headers).header('Content-Type', 'application/problem+json').send(problemBody(status, error.message));
}
