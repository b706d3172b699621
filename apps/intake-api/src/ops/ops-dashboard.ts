import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import fastifyBasicAuth from '@fastify/basic-auth';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';

export const OPS_DASHBOARD_PATH = '/ops/queues';

/**
 * Retrying a delivered lead would push it to WeGroup a second time. bull-board hides the
 * button with `allowCompletedRetries: false` (missing from its typings), but its API would
 * still do it, so the routes are guarded too (refuseCompletedRetries).
 */
const ADAPTER_OPTIONS = { readOnlyMode: false, allowCompletedRetries: false };
const RETRY_ALL_COMPLETED = /\/api\/queues\/[^/]+\/retry\/completed$/;
const RETRY_ONE = /\/api\/queues\/([^/]+)\/([^/]+)\/retry$/;

function refuseCompletedRetries(queues: Queue[]) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'PUT') return;
    const path = request.url.split('?')[0];
    if (RETRY_ALL_COMPLETED.test(path)) return conflict(reply, 'Delivered leads cannot be retried: WeGroup would receive them twice.');
    const one = RETRY_ONE.exec(path);
    if (!one) return;
    const queue = queues.find((q) => q.name === decodeURIComponent(one[1]));
    if (queue && (await queue.getJobState(decodeURIComponent(one[2]))) === 'completed') {
      return conflict(reply, 'This lead was delivered; retrying it would send it to WeGroup twice.');
    }
  };
}

function conflict(reply: FastifyReply, detail: string) {
  return reply.status(409).header('Content-Type', 'application/problem+json').send({ type: 'about:blank', title: 'Conflict', status: 409, detail });
}

export interface OpsCredentials {
  username: string;
  password: string;
}

export function opsCredentialsMatch(expected: OpsCredentials, username: string, password: string): boolean {
  const same = (a: string, b: string) => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
  // Both comparisons always run, so timing does not tell which one failed.
  const userOk = same(expected.username, username);
  const passwordOk = same(expected.password, password);
  return userOk && passwordOk;
}

/**
 * Mounts bull-board at /ops/queues in its own Fastify scope, with HTTP basic auth on every
 * route of that scope: the page, its static assets and its API alike.
 */
export async function mountOpsDashboard(fastify: FastifyInstance, queues: Queue[], credentials: OpsCredentials): Promise<void> {
  const serverAdapter = new BullBoardFastifyAdapter();
  serverAdapter.setBasePath(OPS_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, ADAPTER_OPTIONS)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'WeGroup leads' } },
  });
  await fastify.register(
    async (scope) => {
      await scope.register(fastifyBasicAuth, {
        authenticate: { realm: 'WeGroup lead ops' },
        validate: async (username, password) => {
          if (!opsCredentialsMatch(credentials, username, password)) throw new Error('Invalid ops credentials');
        },
      });
      scope.addHook('onRequest', scope.basicAuth);
      scope.addHook('preHandler', refuseCompletedRetries(queues));
      await scope.register(serverAdapter.registerPlugin());
    },
    { prefix: OPS_DASHBOARD_PATH },
  );
}
