import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import fastifyBasicAuth from '@fastify/basic-auth';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';

export const OPS_DASHBOARD_PATH = '/ops/queues';

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
    queues: queues.map((queue) => new BullMQAdapter(queue)),
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
      await scope.register(serverAdapter.registerPlugin());
    },
    { prefix: OPS_DASHBOARD_PATH },
  );
}
