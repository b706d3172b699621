#!/usr/bin/env node
'use strict';
/**
 * `npm run bench`: the built apps (dist/) against the real Redis, each next to a bare
 * baseline doing the least the same job needs, in one run:
 *
 *   intake          POST /v1/leads, autocannon, unique Idempotency-Key per request
 *                   vs bare Fastify + queue.add (bench/baseline-intake.js)
 *   batch           POST /v1/leads/batch vs bare Fastify + queue.addBulk
 *   hooks           POST /v1/hooks/{source} of a `json` source with a mapping, a CRM's own
 *                   body, vs the same bare server's queue.add
 *   delivery        a backlog (filled through the real intake) drained by the real worker into
 *                   a sandbox answering at once, vs a bare BullMQ Worker that POSTs each job's
 *                   lead to the same sandbox over a keep-alive agent (bench/baseline-worker.js),
 *                   and vs the same Worker with a no-op processor, at the same concurrency
 *   delivery@100ms  the real worker against a sandbox answering after 100 ms, at several
 *                   concurrencies, next to Little's law (concurrency / 0.1 s)
 *   scale-out       1, 2 and 4 worker processes against a sandbox answering after 50 ms
 *   memory          peak RSS (VmHWM) of intake-api and delivery-worker over the whole run
 *   targets         issue #17's targets, one line each, pass or fail
 *
 * Prints one table and writes bench/results/latest.json (smoke: smoke.json). `--smoke` is a
 * seconds-long run that only checks everything works end to end: it exits non-zero when a
 * section errors, never because of a number. See `node bench/run.js --help`.
 *
 * Redis is shared: every measurement uses its own QUEUE_PREFIX and deletes only its keys,
 * also after a failure or Ctrl-C. Child output goes to log files under the OS temp dir.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { BenchRedis, REDIS_URL } = require('./lib/redis');
const { Stack, MAINS, PROFILE_DIR, HOOK_SOURCE } = require('./lib/stack');
const { ROOT, Child, ProcessFailure, stopAll, killAll, sleep } = require('./lib/processes');
const { leadBody, newDataKey, deliveryJobData, plainJobData, nativeHookBody } = require('./lib/leads');
const { DELIVER_LEAD_JOB, SANDBOX_DEFAULTS, defaultDeliveryJobOptions } = require('./lib/project');
const { runLoad, summarize, postJson, describeRefusal, round } = require('./lib/load');
const { formatTable, machineInfo, writeJson } = require('./lib/report');

const RESULTS_DIR = path.join(ROOT, 'bench/results');
/** A drain with no completion for this long is reported as stuck. */
const DRAIN_STALL_MS = 30_000;
/** The sandbox's distribution when none is configured. */
const SANDBOX_DISTRIBUTION_ID = SANDBOX_DEFAULTS.distributionId;

const USAGE = `Usage: npm run bench [-- options]   (or node bench/run.js [options])

  --smoke                 seconds-long end-to-end check (also BENCH_SMOKE=1); exits non-zero
                          when a section errors, never because of a number
  --only=a,b              run some sections: intake, batch, hooks, delivery, delivery@100ms, scale-out
  --duration=S            seconds of load per intake/batch measurement (default 10)
  --connections=N         autocannon connections for the single-lead intake (default 64)
  --batch-size=N          leads per batch request (default 100)
  --batch-connections=N   autocannon connections for the batch intake (default 8)
  --leads=N               delivery backlog (default 20000)
  --concurrency=N         WORKER_CONCURRENCY of the delivery comparison (default 50)
  --profile               start intake-api and delivery-worker with --cpu-prof
                          (profiles in bench/results/profiles)
  --keep-logs             keep the children's log files even when everything worked
`;

/** This run's Redis access, for the cleanup after an unexpected error. */
let activeRedis = null;

const SECTION_NAMES = ['intake', 'batch', 'hooks', 'delivery', 'delivery@100ms', 'scale-out'];

// ---------------------------------------------------------------------------------------
// options

function parseArgs(argv) {
  const options = { smoke: process.env.BENCH_SMOKE === '1', only: null, profile: false, keepLogs: false, help: false, numbers: {} };
  const numeric = { duration: 'duration', connections: 'connections', 'batch-size': 'batchSize', 'batch-connections': 'batchConnections', leads: 'leads', concurrency: 'concurrency' };
  for (const arg of argv) {
    const [flag, value] = arg.split(/=(.*)/s, 2);
    if (flag === '--smoke') options.smoke = true;
    else if (flag === '--profile') options.profile = true;
    else if (flag === '--keep-logs') options.keepLogs = true;
    else if (flag === '--help' || flag === '-h') options.help = true;
    else if (flag === '--only' && value) {
      options.only = value.split(',').map((name) => name.trim()).filter(Boolean);
      const unknown = options.only.filter((name) => !SECTION_NAMES.includes(name));
      if (unknown.length > 0) throw new UsageError(`unknown section ${unknown.join(', ')} (known: ${SECTION_NAMES.join(', ')})`);
    } else if (flag.startsWith('--') && numeric[flag.slice(2)] && value !== undefined) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer`);
      options.numbers[numeric[flag.slice(2)]] = n;
    } else throw new UsageError(`unknown option ${arg}`);
  }
  return options;
}

class UsageError extends Error {}

/** What each section does; the smoke plan is the same, only tiny. */
function makePlan(options) {
  const n = options.numbers;
  if (options.smoke) {
    return {
      mode: 'smoke',
      intake: { duration: 1, warmup: 0, connections: 16 },
      batch: { duration: 1, warmup: 0, connections: 4, size: 20 },
      hooks: { duration: 1, warmup: 0, connections: 16 },
      fill: { batchSize: 20, lanes: 4, connections: 16 },
      delivery: { leads: 300, concurrency: 50 },
      latency: { delayMs: 100, concurrencies: [50], leads: () => 200 },
      scaleOut: { delayMs: 50, processes: [1, 2], concurrency: 20, leads: 200 },
    };
  }
  const duration = n.duration ?? 10;
  return {
    mode: 'full',
    intake: { duration, warmup: 3, connections: n.connections ?? 64 },
    batch: { duration, warmup: 3, connections: n.batchConnections ?? 8, size: n.batchSize ?? 100 },
    hooks: { duration, warmup: 3, connections: n.connections ?? 64 },
    fill: { batchSize: n.batchSize ?? 100, lanes: 4, connections: 64 },
    delivery: { leads: n.leads ?? 20_000, concurrency: n.concurrency ?? 50 },
    // About 4 s of work at the predicted rate, at least 1,000 leads.
    latency: { delayMs: 100, concurrencies: [10, 50, 100], leads: (c) => Math.min(5_000, Math.max(1_000, c * 40)) },
    scaleOut: { delayMs: 50, processes: [1, 2, 4], concurrency: 20, leads: 4_000 },
  };
}

// ---------------------------------------------------------------------------------------
// helpers shared by the sections

function log(line) {
  process.stdout.write(`[bench] ${line}\n`);
}

function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null;
}

function cell(value, unit) {
  return { value: typeof value === 'number' ? value : null, unit };
}

/**
 * CPU time per request or lead of the measured process next to the baseline's (ratio: how
 * many times the baseline's). Informational: other processes on the machine slow a run's
 * rates but barely change these, so they show what a change saved on a busy machine.
 */
function cpuRow(metric, real, base, key = 'cpu_ms_per_request') {
  return { metric, measured: cell(real?.[key], 'ms'), baseline: cell(base?.[key], 'ms'), ratio: ratio(real?.[key], base?.[key]), target: '', pass: null };
}

/** A starter's children are stopped (and their memory recorded) however `body` ends. */
async function withChildren(ctx, phase, start, body) {
  const children = [];
  try {
    const started = await Promise.allSettled(start());
    for (const outcome of started) {
      if (outcome.status === 'fulfilled') children.push(outcome.value instanceof Child ? outcome.value : outcome.value.child);
    }
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    return await body(started.map((outcome) => outcome.value));
  } finally {
    for (const child of children) ctx.recordMemory(child, phase);
    await Promise.all(children.map((child) => child.stop()));
  }
}

/** A prefix for one measurement, its keys deleted afterwards whatever happens. */
async function withPrefix(ctx, name, body) {
  const prefix = ctx.redis.newPrefix(name);
  try {
    return await body(prefix);
  } finally {
    await ctx.redis.deleteKeys(prefix);
  }
}

/**
 * Load on one server: a probe request, a warm-up, then the measured run; checks that every
 * 2xx answer left a job in Redis. `checkAnswer` sees a sample of the 2xx bodies.
 */
/**
 * The intake-api's server, then the baseline's under the same load, into `details`. The
 * baseline runs even when the intake's measurement failed (a route missing): its number is
 * still worth having; the failure is thrown after it.
 */
async function measureBesideBaseline(ctx, details, common, baselineLog) {
  let failure;
  try {
    details.intake_api = await measureServer(ctx, { ...common, which: 'intake-api' });
  } catch (error) {
    failure = error;
  }
  log(baselineLog);
  details.baseline = await measureServer(ctx, { ...common, which: 'baseline' });
  if (failure) throw failure;
}

async function measureServer(ctx, { which, phase, path: route, body, expectStatus, connections, duration, warmup, jobsPerAnswer, checkAnswer, hook = false }) {
  const isReal = which === 'intake-api';
  return withPrefix(ctx, `${phase}-${isReal ? 'real' : 'base'}`, (prefix) =>
    withChildren(
      ctx,
      phase,
      () => [isReal ? ctx.stack.startIntake(prefix) : ctx.stack.startBaselineIntake(prefix)],
      async ([started]) => {
        // A hook authenticates as its source, with that source's key.
        const server = hook ? { ...started, headers: started.hookHeaders } : started;
        const keyBase = `${ctx.runId}-${phase}-${which}`;
        const probe = await postJson(`${server.url}${route}`, { ...server.headers, 'idempotency-key': `${keyBase}-probe` }, body);
        if (probe.status === 404) throw new Error(`${which}: POST ${route} answered 404: the route does not exist in this build`);
        if (probe.status !== expectStatus) throw new Error(`${which}: POST ${route} answered ${describeRefusal(probe)}, expected ${expectStatus}`);
        const probeProblem = checkAnswer?.(probe.json);
        if (probeProblem) throw new Error(`${which}: POST ${route}: ${probeProblem}`);

        const sample = { every: 10, seen: 0, checked: 0, mismatches: 0 };
        const onResponse = checkAnswer
          ? (status, text) => {
              if (status < 200 || status > 299 || sample.seen++ % sample.every !== 0) return;
              sample.checked += 1;
              let json = null;
              try {
                json = JSON.parse(text);
              } catch {
                // counted below
              }
              if (checkAnswer(json)) sample.mismatches += 1;
            }
          : undefined;
        const load = (seconds, tag) =>
          runLoad({ url: server.url, path: route, headers: server.headers, body, keyPrefix: `${keyBase}-${tag}`, connections, duration: seconds, onResponse });

        if (warmup > 0) await load(warmup, 'warmup');
        const before = await ctx.redis.pending(prefix);
        sample.seen = sample.checked = sample.mismatches = 0;
        const cpuBefore = started.child.cpuMs();
        const result = summarize(await load(duration, 'run'));
        const cpuAfter = started.child.cpuMs();
        result.cpu_ms_per_request = cpuBefore === null || cpuAfter === null || result.ok === 0 ? null : round((cpuAfter - cpuBefore) / result.ok, 3);
        result.jobs_stored = (await ctx.redis.pending(prefix)) - before;
        if (checkAnswer) result.sampled_answers = { checked: sample.checked, mismatches: sample.mismatches };
        if (result.ok === 0) throw new Error(`${which}: no request succeeded (status codes ${JSON.stringify(result.status_codes)}, errors ${result.errors})`);
        if (result.jobs_stored < result.ok * jobsPerAnswer) {
          throw new Error(`${which}: ${result.ok} answers were 2xx but only ${result.jobs_stored} jobs were stored (expected ≥ ${result.ok * jobsPerAnswer})`);
        }
        return result;
      },
    ),
  );
}

/** Fills a prefix's queue with `count` leads through the real intake: batches when the route exists, else single posts. */
async function fillThroughIntake(ctx, prefix, count, phase) {
  const plan = ctx.plan.fill;
  const started = Date.now();
  return withChildren(ctx, `${phase} (fill)`, () => [ctx.stack.startIntake(prefix, 'intake-api-fill')], async ([server]) => {
    const keyBase = `${ctx.runId}-${prefix}-fill`;
    let via = 'batch';
    let note;
    // Batches first; any refusal of the first one falls back to the single route (noted).
    const first = Math.min(plan.batchSize, count);
    const probe = await postBatch(server, `${keyBase}-b0`, first);
    if (probe.status !== 207 || probe.json?.accepted !== first) {
      via = 'single';
      note = `batch route answered ${describeRefusal(probe)}${probe.status === 207 ? ` with accepted=${probe.json?.accepted}` : ''}`;
    } else {
      let next = first;
      let batchNo = 1;
      const lane = async () => {
        while (next < count) {
          const size = Math.min(plan.batchSize, count - next);
          next += size;
          const answer = await postBatch(server, `${keyBase}-b${batchNo++}`, size);
          if (answer.status !== 207 || answer.json?.accepted !== size) {
            throw new Error(`fill: POST /v1/leads/batch answered ${describeRefusal(answer)} (accepted ${answer.json?.accepted ?? '?'} of ${size})`);
          }
        }
      };
      await Promise.all(Array.from({ length: plan.lanes }, lane));
    }
    if (via === 'single') {
      const remaining = count - (await ctx.redis.pending(prefix));
      if (remaining > 0) {
        const result = summarize(
          await runLoad({
            url: server.url,
            path: '/v1/leads',
            headers: server.headers,
            body: JSON.stringify(leadBody(0)),
            keyPrefix: `${keyBase}-s`,
            connections: Math.min(plan.connections, remaining),
            amount: remaining,
          }),
        );
        if (result.ok !== remaining) throw new Error(`fill: ${result.ok} of ${remaining} posts accepted (status codes ${JSON.stringify(result.status_codes)})`);
      }
    }
    const stored = await ctx.redis.pending(prefix);
    if (stored !== count) throw new Error(`fill: ${stored} leads queued, expected ${count}`);
    return { via, ...(note ? { note } : {}), leads: count, seconds: round((Date.now() - started) / 1000, 1) };
  });
}

function postBatch(server, key, size) {
  const body = JSON.stringify({ leads: Array.from({ length: size }, (_, i) => leadBody(i)) });
  return postJson(`${server.url}/v1/leads/batch`, { ...server.headers, 'idempotency-key': key }, body);
}

/**
 * Fills a prefix's queue directly with addBulk: with data like the intake's (sealed lead), or
 * `plain` as a user's own producer would queue a lead for the bare posting worker.
 */
async function fillDirectly(ctx, prefix, count, { plain = false } = {}) {
  const queue = ctx.redis.queue(prefix);
  // As the intake stores a lead: its job options, the job id the lead id.
  const jobOptions = defaultDeliveryJobOptions();
  const started = Date.now();
  for (let offset = 0; offset < count; offset += 1_000) {
    const jobs = [];
    for (let i = offset; i < Math.min(count, offset + 1_000); i++) {
      if (plain) {
        jobs.push({ name: DELIVER_LEAD_JOB, data: plainJobData(i, SANDBOX_DISTRIBUTION_ID), opts: jobOptions });
        continue;
      }
      const data = deliveryJobData(ctx.dataKey, i, SANDBOX_DISTRIBUTION_ID);
      jobs.push({ name: DELIVER_LEAD_JOB, data, opts: { ...jobOptions, jobId: data.lead_id } });
    }
    await queue.addBulk(jobs);
  }
  const stored = await ctx.redis.pending(prefix);
  if (stored !== count) throw new Error(`fill: ${stored} jobs queued, expected ${count}`);
  return { via: 'addBulk', leads: count, seconds: round((Date.now() - started) / 1000, 1) };
}

/**
 * Pauses the queue, starts the workers and waits until they are ready, resumes, and waits
 * until every job is completed or failed. The rate is measured between the first and the
 * last completion (BullMQ's completed set is scored by finish time).
 */
async function drain(ctx, prefix, count, phase, startWorkers) {
  const queue = ctx.redis.queue(prefix);
  await queue.pause();
  return withChildren(ctx, phase, startWorkers, async (workers) => {
    const cpu = () => workers.reduce((sum, worker) => (sum === null || worker.cpuMs() === null ? null : sum + worker.cpuMs()), 0);
    const cpuBefore = cpu();
    const resumedAt = Date.now();
    await queue.resume();
    let progress = { done: -1, at: Date.now() };
    let counts;
    for (;;) {
      const dead = workers.find((worker) => !worker.running);
      if (dead) throw new ProcessFailure(`${dead.label} exited (${dead.describeExit()}) during the drain`, dead);
      counts = await ctx.redis.counts(prefix);
      const done = counts.completed + counts.failed;
      if (done >= count) break;
      if (done !== progress.done) progress = { done, at: Date.now() };
      else if (Date.now() - progress.at > DRAIN_STALL_MS) {
        throw new ProcessFailure(`${phase}: no lead finished for ${DRAIN_STALL_MS / 1000} s (${JSON.stringify(counts)})`, workers[0]);
      }
      await sleep(100);
    }
    const finishedAt = Date.now();
    const cpuAfter = cpu();
    if (counts.failed > 0) throw new ProcessFailure(`${phase}: ${counts.failed} of ${count} leads failed`, workers[0]);
    const span = await ctx.redis.completionSpan(prefix);
    const seconds = span ? (span.lastMs - span.firstMs) / 1000 : 0;
    return {
      leads: count,
      completed: counts.completed,
      leads_per_s: seconds > 0 ? round((counts.completed - 1) / seconds, 1) : null,
      first_to_last_completion_s: round(seconds, 2),
      resume_to_done_s: round((finishedAt - resumedAt) / 1000, 2),
      cpu_ms_per_lead: cpuBefore === null || cpuAfter === null ? null : round((cpuAfter - cpuBefore) / count, 3),
    };
  });
}

/** Real pipeline: backlog through the intake, then `processes` real workers at `concurrency`. */
async function measureRealDelivery(ctx, { name, phase, leads, concurrency, processes = 1 }) {
  return withPrefix(ctx, name, async (prefix) => {
    const fill = await fillThroughIntake(ctx, prefix, leads, phase);
    log(`  ${leads} leads queued through the intake (${fill.via === 'batch' ? 'POST /v1/leads/batch' : 'POST /v1/leads'}) in ${fill.seconds} s${fill.note ? `; ${fill.note}` : ''}`);
    const result = await drain(ctx, prefix, leads, phase, () =>
      Array.from({ length: processes }, (_, i) => ctx.stack.startWorker(prefix, concurrency, processes > 1 ? `delivery-worker-${i + 1}` : 'delivery-worker')),
    );
    return { ...result, concurrency, processes, fill };
  });
}

// ---------------------------------------------------------------------------------------
// sections: measure(ctx, details) fills details as it goes; rows(details, plan) tolerates gaps

const SECTIONS = {
  intake: {
    async measure(ctx, details) {
      const p = ctx.plan.intake;
      const common = { phase: 'intake', path: '/v1/leads', body: JSON.stringify(leadBody(1)), expectStatus: 202, jobsPerAnswer: 1, ...p };
      log(`intake: intake-api, ${p.warmup} s warm-up + ${p.duration} s at ${p.connections} connections`);
      details.intake_api = await measureServer(ctx, { ...common, which: 'intake-api' });
      log(`intake: baseline (bare Fastify + queue.add), same load`);
      details.baseline = await measureServer(ctx, { ...common, which: 'baseline' });
    },
    rows(d) {
      const real = d.intake_api;
      const base = d.baseline;
      const r = ratio(real?.ok_per_s, base?.ok_per_s);
      const failures = (x) => (x ? x.non2xx + x.errors : null);
      return [
        { metric: 'req/s (2xx)', measured: cell(real?.ok_per_s), baseline: cell(base?.ok_per_s), ratio: r, target: `≥ ${TARGETS.intakeRatio.toFixed(2)}× baseline`, pass: r === null ? null : r >= TARGETS.intakeRatio },
        { metric: 'latency p50', measured: cell(real?.latency_ms.p50, 'ms'), baseline: cell(base?.latency_ms.p50, 'ms'), ratio: null, target: '', pass: null },
        cpuRow('CPU per request (server process)', real, base),
        {
          metric: 'latency p99',
          measured: cell(real?.latency_ms.p99, 'ms'),
          baseline: cell(base?.latency_ms.p99, 'ms'),
          ratio: null,
          target: `≤ ${TARGETS.intakeP99Ms} ms`,
          pass: real ? real.latency_ms.p99 <= TARGETS.intakeP99Ms : null,
        },
        { metric: 'non-2xx + errors', measured: cell(failures(real)), baseline: cell(failures(base)), ratio: null, target: '0', pass: real ? failures(real) === 0 : null },
      ];
    },
  },

  batch: {
    async measure(ctx, details) {
      const p = ctx.plan.batch;
      const body = JSON.stringify({ leads: Array.from({ length: p.size }, (_, i) => leadBody(i)) });
      const checkAnswer = (json) => {
        if (!json || typeof json !== 'object') return 'answer is not JSON';
        if (json.accepted !== p.size) return `accepted=${json.accepted}, rejected=${json.rejected}, replayed=${json.replayed} (expected accepted=${p.size})`;
        return null;
      };
      const common = { phase: 'batch', path: '/v1/leads/batch', body, expectStatus: 207, jobsPerAnswer: p.size, checkAnswer, ...p };
      details.batch_size = p.size;
      log(`batch: intake-api, ${p.size} leads per request, ${p.warmup} s warm-up + ${p.duration} s at ${p.connections} connections`);
      await measureBesideBaseline(ctx, details, common, `batch: baseline (bare Fastify + queue.addBulk), same load`);
    },
    rows(d) {
      const leadsPerS = (x) => (x ? round(x.ok_per_s * d.batch_size, 1) : null);
      const real = d.intake_api;
      const base = d.baseline;
      const r = ratio(leadsPerS(real), leadsPerS(base));
      const failures = (x) => (x ? x.non2xx + x.errors : null);
      const mismatches = (x) => (x ? x.sampled_answers.mismatches : null);
      return [
        { metric: `leads/s (${d.batch_size ?? '?'} per request)`, measured: cell(leadsPerS(real)), baseline: cell(leadsPerS(base)), ratio: r, target: `≥ ${TARGETS.batchRatio.toFixed(2)}× baseline`, pass: r === null ? null : r >= TARGETS.batchRatio },
        { metric: 'requests/s (2xx)', measured: cell(real?.ok_per_s), baseline: cell(base?.ok_per_s), ratio: ratio(real?.ok_per_s, base?.ok_per_s), target: '', pass: null },
        cpuRow('CPU per request (server process)', real, base),
        { metric: 'latency p99 (request)', measured: cell(real?.latency_ms.p99, 'ms'), baseline: cell(base?.latency_ms.p99, 'ms'), ratio: null, target: '', pass: null },
        {
          metric: `sampled answers with accepted≠${d.batch_size ?? '?'}`,
          measured: cell(mismatches(real)),
          baseline: cell(mismatches(base)),
          ratio: null,
          target: '0',
          pass: real ? mismatches(real) === 0 && real.sampled_answers.checked > 0 : null,
        },
        { metric: 'non-2xx + errors', measured: cell(failures(real)), baseline: cell(failures(base)), ratio: null, target: '0', pass: real ? failures(real) === 0 : null },
      ];
    },
  },

  hooks: {
    async measure(ctx, details) {
      const p = ctx.plan.hooks;
      const route = `/v1/hooks/${HOOK_SOURCE}`;
      const checkAnswer = (json) => (json?.accepted === 1 ? null : `accepted=${json?.accepted}, replayed=${json?.replayed} (expected accepted=1)`);
      const common = { phase: 'hooks', path: route, body: JSON.stringify(nativeHookBody(1)), expectStatus: 200, jobsPerAnswer: 1, checkAnswer, hook: true, ...p };
      log(`hooks: intake-api POST ${route} (json source with a mapping), ${p.warmup} s warm-up + ${p.duration} s at ${p.connections} connections`);
      await measureBesideBaseline(ctx, details, common, `hooks: baseline (bare Fastify + queue.add), same load`);
    },
    rows(d) {
      const real = d.intake_api;
      const base = d.baseline;
      const r = ratio(real?.ok_per_s, base?.ok_per_s);
      const failures = (x) => (x ? x.non2xx + x.errors : null);
      return [
        { metric: 'req/s (2xx)', measured: cell(real?.ok_per_s), baseline: cell(base?.ok_per_s), ratio: r, target: `≥ ${TARGETS.hookRatio.toFixed(2)}× baseline`, pass: r === null ? null : r >= TARGETS.hookRatio },
        { metric: 'latency p99', measured: cell(real?.latency_ms.p99, 'ms'), baseline: cell(base?.latency_ms.p99, 'ms'), ratio: null, target: '', pass: null },
        cpuRow('CPU per request (server process)', real, base),
        { metric: 'non-2xx + errors', measured: cell(failures(real)), baseline: cell(failures(base)), ratio: null, target: '0', pass: real ? failures(real) === 0 : null },
      ];
    },
  },

  delivery: {
    async measure(ctx, details) {
      const { leads, concurrency } = ctx.plan.delivery;
      details.leads = leads;
      details.concurrency = concurrency;
      await ctx.stack.setSandboxDelay(0);
      log(`delivery: ${leads} leads through the intake, then delivery-worker (WORKER_CONCURRENCY=${concurrency}) into the sandbox (no delay)`);
      details.delivery_worker = await measureRealDelivery(ctx, { name: 'delivery-real', phase: 'delivery', leads, concurrency });
      log(`delivery: baseline (bare BullMQ Worker POSTing to the sandbox with a keep-alive agent, concurrency ${concurrency}), ${leads} leads by addBulk`);
      details.baseline_post = await withPrefix(ctx, 'delivery-base-post', async (prefix) => {
        const fill = await fillDirectly(ctx, prefix, leads, { plain: true });
        const result = await drain(ctx, prefix, leads, 'delivery', () => [ctx.stack.startBaselineWorker(prefix, concurrency, { posting: true })]);
        return { ...result, concurrency, fill };
      });
      log(`delivery: baseline (bare BullMQ Worker, no-op, concurrency ${concurrency}), ${leads} leads by addBulk`);
      details.baseline = await withPrefix(ctx, 'delivery-base', async (prefix) => {
        const fill = await fillDirectly(ctx, prefix, leads);
        const result = await drain(ctx, prefix, leads, 'delivery', () => [ctx.stack.startBaselineWorker(prefix, concurrency)]);
        return { ...result, concurrency, fill };
      });
    },
    rows(d) {
      const real = d.delivery_worker?.leads_per_s;
      const post = d.baseline_post?.leads_per_s;
      const noop = d.baseline?.leads_per_s;
      const r = ratio(real, post);
      const label = `leads/s (c=${d.concurrency ?? '?'}, ${d.leads ?? '?'} leads)`;
      return [
        { metric: `${label} vs bare Worker + POST`, measured: cell(real), baseline: cell(post), ratio: r, target: `≥ ${TARGETS.deliveryRatio.toFixed(2)}× baseline`, pass: r === null ? null : r >= TARGETS.deliveryRatio },
        { metric: `${label} vs no-op Worker`, measured: cell(real), baseline: cell(noop), ratio: ratio(real, noop), target: '', pass: null },
        cpuRow('CPU per lead (worker process) vs bare Worker + POST', d.delivery_worker, d.baseline_post, 'cpu_ms_per_lead'),
      ];
    },
  },

  'delivery@100ms': {
    async measure(ctx, details) {
      const { delayMs, concurrencies, leads } = ctx.plan.latency;
      details.sandbox_delay_ms = delayMs;
      details.runs = [];
      await ctx.stack.setSandboxDelay(delayMs);
      for (const concurrency of concurrencies) {
        const n = leads(concurrency);
        log(`delivery@100ms: ${n} leads, delivery-worker WORKER_CONCURRENCY=${concurrency}, sandbox answers after ${delayMs} ms`);
        const run = await measureRealDelivery(ctx, { name: `latency-c${concurrency}`, phase: `delivery@100ms c=${concurrency}`, leads: n, concurrency });
        details.runs.push({ ...run, littles_law_leads_per_s: concurrency / (delayMs / 1000) });
      }
    },
    rows(d) {
      return (d.runs ?? []).map((run) => ({
        metric: `leads/s c=${run.concurrency} (baseline: Little's law)`,
        measured: cell(run.leads_per_s),
        baseline: cell(run.littles_law_leads_per_s),
        ratio: ratio(run.leads_per_s, run.littles_law_leads_per_s),
        target: '',
        pass: null,
      }));
    },
  },

  'scale-out': {
    async measure(ctx, details) {
      const { delayMs, processes, concurrency, leads } = ctx.plan.scaleOut;
      Object.assign(details, { sandbox_delay_ms: delayMs, concurrency, leads, runs: [] });
      await ctx.stack.setSandboxDelay(delayMs);
      for (const count of processes) {
        log(`scale-out: ${leads} leads, ${count} delivery-worker process(es) × WORKER_CONCURRENCY=${concurrency}, sandbox answers after ${delayMs} ms`);
        const run = await measureRealDelivery(ctx, { name: `scale-${count}`, phase: `scale-out ×${count}`, leads, concurrency, processes: count });
        details.runs.push(run);
      }
    },
    rows(d) {
      const targets = { 2: 1.7, 4: 3 };
      const one = d.runs?.find((run) => run.processes === 1)?.leads_per_s;
      return (d.runs ?? []).map((run) => {
        const speedUp = run.processes === 1 ? null : ratio(run.leads_per_s, one);
        const target = targets[run.processes];
        return {
          metric: `leads/s, ${run.processes} process${run.processes > 1 ? 'es' : ''} × c=${d.concurrency} (baseline: 1 process)`,
          measured: cell(run.leads_per_s),
          baseline: cell(run.processes === 1 ? null : one),
          ratio: speedUp,
          target: target ? `≥ ${target.toFixed(1)}× speed-up` : '',
          pass: target && speedUp !== null ? speedUp >= target : null,
        };
      });
    },
  },
};

/** Peak RSS per app over every phase it ran in, next to its bare baseline. */
function memorySection(memory) {
  const peak = (app) => memory[app]?.peak_mb ?? null;
  const row = (app, baseline, limit) => ({
    metric: `${app} peak RSS (baseline: ${baseline})`,
    measured: cell(peak(app) === null ? null : round(peak(app), 1), 'MB'),
    baseline: cell(peak(baseline) === null ? null : round(peak(baseline), 1), 'MB'),
    ratio: ratio(peak(app), peak(baseline)),
    target: `≤ ${limit} MB`,
    pass: peak(app) === null ? null : peak(app) <= limit,
  });
  return {
    name: 'memory',
    error: null,
    rows: [row('intake-api', 'baseline-intake', TARGETS.intakeRssMb), row('delivery-worker', 'baseline-worker', TARGETS.workerRssMb)],
    details: memory,
  };
}

/** Issue #17's targets: what the service must reach with every feature on, against its bare baselines. */
const TARGETS = { intakeRatio: 0.5, intakeP99Ms: 30, batchRatio: 0.5, deliveryRatio: 0.7, hookRatio: 0.5, intakeRssMb: 250, workerRssMb: 200 };

/**
 * One line per target, from the rows the sections printed (a section not run shows "—"). In a
 * smoke run the figures mean nothing, and the lines are printed for show only.
 */
function targetsSection(sections) {
  const rowOf = (section, metric) => sections.find((s) => s.name === section)?.rows.find((row) => row.metric.startsWith(metric)) ?? null;
  const line = (metric, row) => ({
    metric,
    measured: row?.measured ?? cell(null),
    baseline: row?.baseline ?? cell(null),
    ratio: row?.ratio ?? null,
    target: row?.target ?? '',
    pass: row?.pass ?? null,
  });
  return {
    name: 'targets',
    error: null,
    rows: [
      line('intake req/s vs bare, 64 connections', rowOf('intake', 'req/s')),
      line('intake p99 at 64 connections', rowOf('intake', 'latency p99')),
      line('batch leads/s vs bare addBulk', rowOf('batch', 'leads/s')),
      line('delivery leads/s vs bare Worker + POST', rowOf('delivery', 'leads/s')),
      line('native hook req/s vs bare', rowOf('hooks', 'req/s')),
      line('intake-api peak RSS', rowOf('memory', 'intake-api')),
      line('delivery-worker peak RSS', rowOf('memory', 'delivery-worker')),
    ],
    details: TARGETS,
  };
}

// ---------------------------------------------------------------------------------------

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const missing = Object.values(MAINS).filter((main) => !fs.existsSync(path.join(ROOT, main)));
  if (missing.length > 0) {
    process.stderr.write(`bench: ${missing.join(', ')} missing: run npm run build first (npm run bench does)\n`);
    return 1;
  }

  const plan = makePlan(options);
  const selected = SECTION_NAMES.filter((name) => !options.only || options.only.includes(name));
  const startedAt = new Date();
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wegroup-bench-'));
  const redis = new BenchRedis();
  activeRedis = redis;
  const dataKey = newDataKey();
  const stack = new Stack({ logDir, dataKey, profile: options.profile, runId: redis.runId });
  const memory = {};
  const ctx = {
    plan,
    redis,
    stack,
    dataKey,
    runId: redis.runId,
    recordMemory(child, phase) {
      const mb = child.peakRssMb();
      if (mb === null) return;
      const entry = (memory[child.app] ??= { peak_mb: 0, phases: [] });
      entry.peak_mb = Math.max(entry.peak_mb, mb);
      entry.phases.push({ phase, process: child.label, peak_mb: round(mb, 1) });
    },
  };

  installSignalHandlers(redis, logDir);
  if (options.profile) fs.mkdirSync(PROFILE_DIR, { recursive: true });

  try {
    await redis.connect();
  } catch (error) {
    process.stderr.write(`bench: Redis does not answer at ${REDIS_URL.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@')} (${error.message})\n`);
    // The client would keep reconnecting, and the process with it.
    await redis.close().catch(() => {});
    fs.rmSync(logDir, { recursive: true, force: true });
    return 1;
  }
  const machine = machineInfo(await redis.serverVersion());
  log(`${plan.mode} run ${redis.runId}: ${selected.join(', ')}; ${machine.cpu_count} × ${machine.cpu_model}, node ${machine.node}, redis ${machine.redis_version}`);
  log(`child process logs: ${logDir}`);

  const sections = [];
  try {
    for (const name of selected) {
      const section = { name, error: null, rows: [], details: {}, seconds: 0 };
      sections.push(section);
      const t0 = Date.now();
      try {
        await SECTIONS[name].measure(ctx, section.details);
      } catch (error) {
        section.error = error instanceof Error ? error.message : String(error);
        process.stderr.write(`[bench] ${name} FAILED: ${section.error}\n`);
        if (section.error.includes('\n  log: ') === false) process.stderr.write(`[bench]   logs: ${logDir}\n`);
      }
      section.rows = SECTIONS[name].rows(section.details, plan);
      section.seconds = round((Date.now() - t0) / 1000, 1);
      log(`${name}: ${section.error ? 'failed' : 'done'} in ${section.seconds} s`);
    }
  } finally {
    await stopAll();
  }
  sections.push(memorySection(memory));
  sections.push(targetsSection(sections));

  const seconds = round((Date.now() - startedAt.getTime()) / 1000, 1);
  const failed = sections.filter((section) => section.error);
  process.stdout.write(`\n${formatTable(sections)}\n\n`);
  // The ops console's lead search (issue 16): its own index under its own prefix, see bench/search.js.
  // An error there fails the run like any section's (never its numbers).
  const search = options.only ? undefined : await require('./search').runSearchBench({ redis, smoke: plan.mode === 'smoke', log });
  if (search?.error) failed.push({ name: 'search', error: search.error });
  if (plan.mode === 'smoke') log('smoke run: tiny loads, so the numbers mean nothing; only an ERROR fails it');
  const file = path.join(RESULTS_DIR, plan.mode === 'smoke' ? 'smoke.json' : 'latest.json');
  writeJson(file, {
    timestamp: startedAt.toISOString(),
    mode: plan.mode,
    duration_s: seconds,
    machine,
    plan: { ...plan, latency: { ...plan.latency, leads: plan.latency.concurrencies.map((c) => ({ concurrency: c, leads: plan.latency.leads(c) })) } },
    sections: sections.map(({ name, error, rows, details, seconds: s }) => ({ name, status: error ? 'error' : 'ok', error, seconds: s, rows, details })),
    ...(search ? { search } : {}),
    ...(failed.length > 0 ? { log_dir: logDir } : {}),
  });

  const leftovers = await redis.deleteAllKeys();
  await redis.close();
  if (leftovers.length > 0) process.stderr.write(`[bench] could not delete the keys of ${leftovers.join(', ')}\n`);
  log(`${plan.mode} run finished in ${seconds} s; results in ${path.relative(ROOT, file)}`);
  if (options.profile) log(`CPU profiles of intake-api and delivery-worker in ${path.relative(ROOT, PROFILE_DIR)}`);
  if (failed.length > 0) {
    process.stderr.write(`[bench] ${failed.length} section(s) failed: ${failed.map((s) => s.name).join(', ')}; child logs kept in ${logDir}\n`);
    return 1;
  }
  if (!options.keepLogs) fs.rmSync(logDir, { recursive: true, force: true });
  return 0;
}

/** Ctrl-C / SIGTERM: stop the children, delete this run's keys, exit 130. A second signal exits at once. */
function installSignalHandlers(redis, logDir) {
  let stopping = false;
  const onSignal = (signal) => {
    if (stopping) {
      killAll();
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`\n[bench] ${signal}: stopping child processes and deleting this run's keys (child logs kept in ${logDir})\n`);
    stopAll()
      .then(() => redis.deleteAllKeys())
      .catch(() => {})
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP'));
  // Whatever else ends this process, no child outlives it.
  process.on('exit', killAll);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (error) => {
    process.stderr.write(`[bench] ${error instanceof Error ? error.stack : String(error)}\n`);
    await stopAll().catch(() => {});
    if (activeRedis) {
      await activeRedis.deleteAllKeys().catch(() => {});
      await activeRedis.close().catch(() => {});
    }
    process.exitCode = 1;
  },
);
