'use strict';
/**
 * The ops console's lead search (issue 16): with 100,000 leads in retention, a search by
 * external ref and by source + status must answer in under 50 ms at p95.
 *
 * Seeds the index through the writes the lead repository sends with each change
 * (LeadIndexLayout: enqueue as queued, then each lead's outcome), under a QUEUE_PREFIX of its
 * own whose keys are deleted afterwards, then runs the console's searches (LeadIndex.search)
 * one after another and reports p50 / p95 of each kind: by external ref, by source + status,
 * the newest page with no filter, and a page deep into the results from a cursor.
 *
 * `npm run bench` runs it after its other sections; `node bench/search.js [--smoke]` alone
 * (after `npm run build`).
 */
const { randomBytes } = require('node:crypto');
const { BenchRedis } = require('./lib/redis');
const { Keyring, keyPrefix, LEADS_QUEUE, loadSearchKit } = require('./lib/project');

const LIMIT_MS = 50;
const SOURCES = 20;
const REASONS = [
  'WeGroup answered 400: prospect.birth_date is not a date',
  'WeGroup answered 422: prospect.first_name: field required',
  'WeGroup answered 403: the token lacks scope leads:write',
  'The mapping of source "hubspot-main" failed: prospect.last_name is missing',
  'WeGroup did not answer within 10000 ms (no attempt left)',
];
/** Leads written per pipeline, and pipelines in flight while seeding. */
const CHUNK = 1_000;
const IN_FLIGHT = 4;

/** What becomes of lead i: most delivered, some failed, the rest still on their way. */
function statusOf(i) {
  const r = i % 100;
  return r < 85 ? 'delivered' : r < 90 ? 'failed' : r < 95 ? 'queued' : r < 98 ? 'retrying' : 'waiting_reauth';
}

/** Lead i's external ref: unique, except every 50th reuses the one before (the same ref from two sources, or posted again later). */
function refOf(i) {
  return i % 50 === 49 ? `crm-${i - 1}` : `crm-${i}`;
}

/**
 * Seeds `leads` leads received over the last 7 days (five at a time in the same millisecond,
 * as a batch is), then measures. Never throws: a failure is reported as the result's `error`.
 * `redis` is the run's BenchRedis (its prefix is deleted here, and with the run's keys).
 */
async function runSearchBench({ redis, smoke = false, log = (line) => process.stdout.write(`${line}\n`) }) {
  const leads = smoke ? 2_000 : 100_000;
  const searches = smoke ? 20 : 300;
  const prefix = redis.newPrefix('search');
  const t0 = Date.now();
  let queue;
  try {
    const { defineIndexScripts, LeadIndex, LeadIndexLayout, LeadsQueue, queueIndexScript, readRetentionConfig } = await loadSearchKit();
    // The apps' queue class: the index reads through its state connection (here the run's own).
    queue = new LeadsQueue(LEADS_QUEUE, { connection: redis.redis, prefix: keyPrefix(prefix) });
    queue.on('error', () => {});
    queue.state.set(redis.redis);
    // The seeding pipelines send the index scripts by their SHA1, as the apps do.
    defineIndexScripts(redis.redis);
    const keyring = new Keyring({ id: 'bench', key: randomBytes(32) });
    const retention = readRetentionConfig({});
    const layout = new LeadIndexLayout((name) => queue.toKey(name), keyring, retention);
    const index = new LeadIndex(queue, keyring, retention);
    const memoryBefore = await usedMemory(redis.redis);

    const now = Date.now();
    const span = 7 * 86_400_000;
    const ids = Array.from({ length: leads }, () => randomBytes(16).toString('hex').replace(/(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'));
    const lead = (i) => ({ id: ids[i], source: `source-${String(i % SOURCES).padStart(2, '0')}`, receivedAt: now - span + Math.floor(i / 5) * Math.floor((5 * span) / leads), externalRef: refOf(i) });
    await inChunks(leads, async (from, to) => {
      const pipeline = redis.redis.pipeline();
      const chunk = [];
      for (let i = from; i < to; i++) chunk.push(lead(i));
      queueIndexScript(pipeline, layout.addQueuedCall(chunk, now));
      for (let i = from; i < to; i++) {
        const status = statusOf(i);
        if (status === 'queued') continue;
        const change =
          status === 'delivered'
            ? { status, attempts: 1, error: null, wegroupLeadId: `wg-${i}` }
            : { status, attempts: status === 'failed' ? 8 : 2, error: status === 'waiting_reauth' ? 'The broker must sign in again' : REASONS[i % REASONS.length] };
        queueIndexScript(pipeline, layout.setStatusCall(chunk[i - from], change, now));
      }
      await execAll(pipeline);
    });
    const seedSeconds = (Date.now() - t0) / 1000;
    const memoryMb = ((await usedMemory(redis.redis)) - memoryBefore) / 1024 / 1024;
    log(`search: ${leads} leads indexed in ${seedSeconds.toFixed(1)} s (Redis memory +${memoryMb.toFixed(0)} MB)`);

    const pick = (n) => Math.floor(Math.random() * n);
    const statuses = ['delivered', 'failed', 'queued', 'retrying', 'waiting_reauth'];
    // A cursor deep into every lead (half way): reached by paging, as the console would.
    let deepCursor;
    for (let seen = 0, cursor; seen < leads / 2; ) {
      const page = await index.search({ limit: 100, cursor });
      seen += page.rows.length;
      cursor = deepCursor = page.next_cursor;
      if (!cursor) break;
    }
    const kinds = {
      'external ref': async () => {
        const i = pick(leads);
        const page = await index.search({ externalRef: refOf(i), limit: 50 });
        if (!page.rows.some((row) => row.id === ids[i])) throw new Error(`search by external ref ${refOf(i)} did not find lead ${i}`);
      },
      'source + status': async () => {
        // Each status as often (delivered is the big set, waiting_reauth a small one), on the source of a lead that has it.
        const status = statuses[pick(statuses.length)];
        let i = pick(leads);
        while (statusOf(i) !== status) i = pick(leads);
        const page = await index.search({ source: lead(i).source, status, limit: 50 });
        if (page.rows.length === 0) throw new Error('search by source + status found nothing');
      },
      'newest page': async () => {
        if ((await index.search({ limit: 50 })).rows.length !== 50) throw new Error('the newest page is not full');
      },
      'deep cursor page': async () => {
        if ((await index.search({ limit: 50, cursor: deepCursor })).rows.length !== 50) throw new Error('the deep page is not full');
      },
    };
    const results = {};
    for (const [kind, search] of Object.entries(kinds)) {
      const times = [];
      for (let n = 0; n < searches; n++) {
        const started = process.hrtime.bigint();
        await search();
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
      times.sort((a, b) => a - b);
      const at = (p) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)];
      results[kind] = { p50_ms: round(at(0.5)), p95_ms: round(at(0.95)), max_ms: round(times.at(-1)), searches };
    }
    const pass = results['external ref'].p95_ms < LIMIT_MS && results['source + status'].p95_ms < LIMIT_MS;
    log(`search: ${leads} leads, ${searches} searches of each kind, one at a time (limit 50 rows)`);
    for (const [kind, r] of Object.entries(results)) log(`search:   ${kind.padEnd(17)} p50 ${String(r.p50_ms).padStart(6)} ms   p95 ${String(r.p95_ms).padStart(6)} ms   max ${String(r.max_ms).padStart(6)} ms`);
    log(`search: ${pass ? 'PASS' : 'FAIL'}: p95 by external ref and by source + status ${pass ? 'under' : 'not under'} ${LIMIT_MS} ms${smoke ? ' (smoke: the numbers mean nothing)' : ''}`);
    return { leads, seed_s: round(seedSeconds), redis_memory_mb: round(memoryMb), results, pass, seconds: round((Date.now() - t0) / 1000) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`search: FAILED: ${message}`);
    return { error: message };
  } finally {
    // The run's own connection is shared with the queue: closing the queue leaves it open.
    await queue?.close().catch(() => undefined);
    await redis.deleteKeys(prefix).catch(() => log(`search: could not delete the keys of ${prefix}`));
  }
}

/** Runs `write(from, to)` over [0, total) in CHUNKs, IN_FLIGHT at a time. */
async function inChunks(total, write) {
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const from = next;
      next = Math.min(total, next + CHUNK);
      await write(from, next);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

async function execAll(pipeline) {
  const results = await pipeline.exec();
  const failed = results.find(([error]) => error);
  if (failed) throw failed[0];
}

async function usedMemory(client) {
  return Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1] ?? 0);
}

function round(n) {
  return Math.round(n * 10) / 10;
}

module.exports = { runSearchBench };

if (require.main === module) {
  const redis = new BenchRedis();
  redis
    .connect()
    .then(() => runSearchBench({ redis, smoke: process.argv.includes('--smoke') }))
    .then(async (result) => {
      await redis.deleteAllKeys();
      await redis.close();
      process.exitCode = result.error ? 1 : 0;
    });
}
