'use strict';
/**
 * Benchmark baselines for delivery: a bare BullMQ Worker on the leads queue at
 * WORKER_CONCURRENCY, in one of two modes.
 *
 *   WEGROUP_URL set   what a user would write in twenty lines: each job's data is
 *                     `{distribution_id, body}` and is POSTed as JSON to the WeGroup API at
 *                     WEGROUP_URL (the sandbox) over a keep-alive agent, with the API token;
 *                     a non-2xx answer fails the job. No decryption, attempt log, metrics,
 *                     breaker or classification: the cost of BullMQ plus the HTTP exchange.
 *   WEGROUP_URL unset a no-op processor: what BullMQ itself costs per job (fetch, lock, complete).
 *
 * Environment: REDIS_URL, QUEUE_PREFIX (keys under `{QUEUE_PREFIX}:`), WORKER_CONCURRENCY,
 * WEGROUP_URL, WEGROUP_API_TOKEN.
 */
const http = require('node:http');
const { Worker } = require('bullmq');
const Redis = require('ioredis');
const { keyPrefix, LEADS_QUEUE } = require('./lib/project');

const concurrency = Number(process.env.WORKER_CONCURRENCY || 50);
const prefix = keyPrefix(process.env.QUEUE_PREFIX || 'bench-baseline');
const apiUrl = process.env.WEGROUP_URL;
// Workers block on Redis: BullMQ wants no per-command retry limit on their connection.
const connection = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function post(url, token, body) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const request = http.request(url, {
      method: 'POST',
      agent,
      headers: { authorization: `apikey ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    request.on('error', reject);
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => (response.statusCode >= 200 && response.statusCode < 300 ? resolve(text) : reject(new Error(`HTTP ${response.statusCode}`))));
    });
    request.end(payload);
  });
}

const deliver = async (job) => post(`${apiUrl}/v1/api/distributions/${encodeURIComponent(job.data.distribution_id)}/leads/customers`, process.env.WEGROUP_API_TOKEN, job.data.body);
const worker = new Worker(LEADS_QUEUE, apiUrl ? deliver : async () => undefined, { connection, prefix, concurrency });
worker.on('error', (error) => process.stderr.write(`baseline worker error: ${error.message}\n`));

async function shutdown() {
  await worker.close();
  connection.disconnect();
  agent.destroy();
  process.exit(0);
}

process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

worker.waitUntilReady().then(
  () => process.stdout.write(`baseline worker ready with concurrency ${concurrency}${apiUrl ? ', posting to WeGroup' : ', no-op'}\n`),
  (error) => {
    process.stderr.write(`baseline worker could not start: ${error.message}\n`);
    process.exit(1);
  },
);
