'use strict';
/**
 * Benchmark baseline for the intake: the least an HTTP front of a BullMQ queue can do. A bare
 * Fastify server (no logging, validation, auth, rate limit, encryption or idempotency) whose
 * routes only enqueue what they receive and answer:
 *
 *   POST /v1/leads        queue.add('deliver-lead', body)              -> 202 {id, status}
 *   POST /v1/leads/batch  queue.addBulk(body.leads as 'deliver-lead')  -> 207 {accepted, …, results}
 *   POST /v1/hooks/:name  queue.add('deliver-lead', body)              -> 200 {source, accepted, …, leads}
 *   GET  /health          200
 *
 * Environment: PORT, REDIS_URL, QUEUE_PREFIX (keys under `{QUEUE_PREFIX}:`, like the apps).
 */
const Fastify = require('fastify');
const { Queue } = require('bullmq');
const Redis = require('ioredis');
const { DELIVER_LEAD_JOB, keyPrefix, LEADS_QUEUE } = require('./lib/project');

const port = Number(process.env.PORT || 3900);
const prefix = keyPrefix(process.env.QUEUE_PREFIX || 'bench-baseline');
const connection = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
const queue = new Queue(LEADS_QUEUE, { connection, prefix });

const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });

app.post('/v1/leads', async (request, reply) => {
  const job = await queue.add(DELIVER_LEAD_JOB, request.body);
  return reply.code(202).send({ id: job.id, status: 'queued' });
});

app.post('/v1/leads/batch', async (request, reply) => {
  const leads = request.body?.leads;
  if (!Array.isArray(leads)) return reply.code(400).send({ detail: 'leads must be an array' });
  const jobs = await queue.addBulk(leads.map((data) => ({ name: DELIVER_LEAD_JOB, data })));
  return reply.code(207).send({
    accepted: jobs.length,
    replayed: 0,
    rejected: 0,
    results: jobs.map((job, index) => ({ index, status: 'queued', id: job.id })),
  });
});

app.post('/v1/hooks/:name', async (request, reply) => {
  const job = await queue.add(DELIVER_LEAD_JOB, request.body);
  return reply.code(200).send({ source: request.params.name, accepted: 1, replayed: 0, ignored: 0, leads: [{ id: job.id, status: 'queued' }], ignored_events: [] });
});

app.get('/health', async () => ({ status: 'ok' }));

async function shutdown() {
  await app.close();
  await queue.close();
  connection.disconnect();
  process.exit(0);
}

process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

app.listen({ port, host: '127.0.0.1' }).then(
  () => process.stdout.write(`baseline intake listening on port ${port}\n`),
  (error) => {
    process.stderr.write(`baseline intake could not start: ${error.message}\n`);
    process.exit(1);
  },
);
