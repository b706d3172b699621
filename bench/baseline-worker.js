'use strict';
/**
 * Benchmark baseline for delivery: a bare BullMQ Worker on the leads queue whose processor
 * does nothing, at WORKER_CONCURRENCY. What BullMQ itself costs per job (fetch, lock,
 * complete) with no decryption, HTTP call, attempt log or metrics.
 *
 * Environment: REDIS_URL, QUEUE_PREFIX (keys under `{QUEUE_PREFIX}:`), WORKER_CONCURRENCY.
 */
const { Worker } = require('bullmq');
const Redis = require('ioredis');
const { keyPrefix, LEADS_QUEUE } = require('./lib/project');

const concurrency = Number(process.env.WORKER_CONCURRENCY || 50);
const prefix = keyPrefix(process.env.QUEUE_PREFIX || 'bench-baseline');
// Workers block on Redis: BullMQ wants no per-command retry limit on their connection.
const connection = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });

const worker = new Worker(LEADS_QUEUE, async () => undefined, { connection, prefix, concurrency });
worker.on('error', (error) => process.stderr.write(`baseline worker error: ${error.message}\n`));

async function shutdown() {
  await worker.close();
  connection.disconnect();
  process.exit(0);
}

process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

worker.waitUntilReady().then(
  () => process.stdout.write(`baseline worker ready with concurrency ${concurrency}\n`),
  (error) => {
    process.stderr.write(`baseline worker could not start: ${error.message}\n`);
    process.exit(1);
  },
);
