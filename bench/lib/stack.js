'use strict';
/**
 * Starts the processes a measurement needs: the real apps from dist/ (configured only
 * through their environment, as in production) and the bare baselines from bench/.
 */
const fs = require('node:fs');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { ROOT, freePort, startNode, waitForHttp, waitForLog } = require('./processes');
const { REDIS_URL } = require('./redis');
const { HOOK_SOURCE_MAPPING } = require('./leads');
const { SANDBOX_DEFAULTS } = require('./project');

/** The native source every intake of a run declares (SOURCES_FILE): `POST /v1/hooks/bench-crm`. */
const HOOK_SOURCE = 'bench-crm';

// Each app runs as production starts it: its bundle and its Node flags (the heap cap).
const { APPS } = require('../../scripts/apps');
const MAINS = Object.fromEntries(Object.entries(APPS).map(([app, { main }]) => [app, main]));

const PROFILE_DIR = path.join(ROOT, 'bench/results/profiles');

class Stack {
  /**
   * @param {object} options
   * @param {string} options.logDir  where each child's output goes
   * @param {{env: string}} options.dataKey  DATA_ENCRYPTION_KEY for intake and worker
   * @param {boolean} options.profile  start intake-api and delivery-worker with --cpu-prof
   * @param {string} options.runId
   */
  constructor({ logDir, dataKey, profile, runId }) {
    this.logDir = logDir;
    this.dataKey = dataKey;
    this.profile = profile;
    this.runId = runId;
    /** Per run, never printed: the intake key and the ops password. */
    this.apiKey = `bench-${randomBytes(18).toString('base64url')}`;
    this.opsPassword = randomBytes(18).toString('base64url');
    /** The hook source's X-API-Key, per run, never printed (SOURCES_FILE names its variable only). */
    this.hookApiKey = `bench-hook-${randomBytes(18).toString('base64url')}`;
    this.sourcesFile = path.join(logDir, 'sources.yml');
    // A `json` source with a mapping: its hook stores the CRM's own body as a native event.
    const mapping = HOOK_SOURCE_MAPPING.split('\n').map((line) => `      ${line}`).join('\n');
    fs.writeFileSync(this.sourcesFile, `sources:\n  - name: ${HOOK_SOURCE}\n    type: json\n    api_key: \${BENCH_HOOK_API_KEY}\n    mapping: |\n${mapping}\n`);
    this.sandbox = null;
  }

  /** Environment shared by intake and worker: production mode, default log level (info). */
  appEnv(queuePrefix) {
    return {
      NODE_ENV: 'production',
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      DATA_ENCRYPTION_KEY: this.dataKey.env,
      WEGROUP_ENV: 'sandbox',
      ...(this.sandbox ? { WEGROUP_SANDBOX_URL: this.sandbox.url } : {}),
    };
  }

  nodeArgs(app, label) {
    const flags = APPS[app].nodeArgs;
    if (!this.profile) return flags;
    return [...flags, '--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${this.runId}-${label}.cpuprofile`];
  }

  /** The real intake API, once GET /health/ready answers 200. */
  async startIntake(queuePrefix, label = 'intake-api') {
    const port = await freePort();
    const child = startNode({
      label,
      app: 'intake-api',
      script: MAINS['intake-api'],
      nodeArgs: this.nodeArgs('intake-api', label),
      logDir: this.logDir,
      env: {
        ...this.appEnv(queuePrefix),
        PORT: String(port),
        INTAKE_API_KEYS: `bench:${this.apiKey}`,
        SOURCES_FILE: this.sourcesFile,
        BENCH_HOOK_API_KEY: this.hookApiKey,
        OPS_USERNAME: 'ops',
        OPS_PASSWORD: this.opsPassword,
        // High enough that the source limit never refuses during a run (it is still counted in Redis).
        INTAKE_RATE_LIMIT: '1000000',
      },
    });
    const url = `http://127.0.0.1:${port}`;
    await readyOrStop(child, waitForHttp(`${url}/health/ready`, child));
    return {
      child,
      url,
      headers: { 'content-type': 'application/json', 'x-api-key': this.apiKey },
      hookHeaders: { 'content-type': 'application/json', 'x-api-key': this.hookApiKey },
    };
  }

  /** bench/baseline-intake.js: bare Fastify + queue.add / addBulk. */
  async startBaselineIntake(queuePrefix, label = 'baseline-intake') {
    const port = await freePort();
    const child = startNode({
      label,
      app: 'baseline-intake',
      script: path.join(ROOT, 'bench/baseline-intake.js'),
      logDir: this.logDir,
      env: { NODE_ENV: 'production', REDIS_URL, QUEUE_PREFIX: queuePrefix, PORT: String(port) },
    });
    const url = `http://127.0.0.1:${port}`;
    await readyOrStop(child, waitForHttp(`${url}/health`, child));
    return { child, url, headers: { 'content-type': 'application/json' }, hookHeaders: { 'content-type': 'application/json' } };
  }

  /** The real delivery worker, once its GET /health/ready answers 200 (own METRICS_PORT each). */
  async startWorker(queuePrefix, concurrency, label = 'delivery-worker') {
    if (!this.sandbox) throw new Error('the sandbox must run before a delivery worker starts');
    const metricsPort = await freePort();
    const child = startNode({
      label,
      app: 'delivery-worker',
      script: MAINS['delivery-worker'],
      nodeArgs: this.nodeArgs('delivery-worker', label),
      logDir: this.logDir,
      env: { ...this.appEnv(queuePrefix), WORKER_CONCURRENCY: String(concurrency), METRICS_PORT: String(metricsPort) },
    });
    await readyOrStop(child, waitForHttp(`http://127.0.0.1:${metricsPort}/health/ready`, child));
    return child;
  }

  /**
   * bench/baseline-worker.js: bare BullMQ Worker, POSTing each job's lead to the sandbox over a
   * keep-alive agent (`posting`), or a no-op processor.
   */
  async startBaselineWorker(queuePrefix, concurrency, { posting = false, label = posting ? 'baseline-worker-post' : 'baseline-worker' } = {}) {
    if (posting && !this.sandbox) throw new Error('the sandbox must run before a posting baseline worker starts');
    const child = startNode({
      label,
      app: 'baseline-worker',
      script: path.join(ROOT, 'bench/baseline-worker.js'),
      logDir: this.logDir,
      env: {
        NODE_ENV: 'production',
        REDIS_URL,
        QUEUE_PREFIX: queuePrefix,
        WORKER_CONCURRENCY: String(concurrency),
        ...(posting ? { WEGROUP_URL: this.sandbox.url, WEGROUP_API_TOKEN: SANDBOX_DEFAULTS.apiToken } : {}),
      },
    });
    await readyOrStop(child, waitForLog(child, /baseline worker ready/));
    return child;
  }

  /** One WeGroup sandbox for the whole run; its answer delay is changed through /_sandbox/behaviour. */
  async ensureSandbox() {
    if (this.sandbox?.child.running) return this.sandbox;
    const port = await freePort();
    const child = startNode({
      label: 'wegroup-sandbox',
      app: 'wegroup-sandbox',
      script: MAINS['wegroup-sandbox'],
      logDir: this.logDir,
      env: {
        NODE_ENV: 'production',
        SANDBOX_PORT: String(port),
        SANDBOX_HOST: '127.0.0.1',
        // The sandbox stands in for WeGroup and is not measured: warnings only, few records kept.
        LOG_LEVEL: 'warn',
        SANDBOX_MAX_RECORDS: '1000',
      },
    });
    const url = `http://127.0.0.1:${port}`;
    await readyOrStop(child, waitForHttp(`${url}/health`, child));
    this.sandbox = { child, url };
    return this.sandbox;
  }

  async setSandboxDelay(delayMs) {
    const { url } = await this.ensureSandbox();
    const response = await fetch(`${url}/_sandbox/behaviour`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ delay_ms: delayMs }),
    });
    if (!response.ok) throw new Error(`the sandbox refused delay_ms=${delayMs}: HTTP ${response.status}`);
  }
}

/** A child that never became ready is stopped before the error goes up. */
async function readyOrStop(child, ready) {
  try {
    await ready;
  } catch (error) {
    await child.stop();
    throw error;
  }
}

module.exports = { Stack, MAINS, PROFILE_DIR, HOOK_SOURCE };
