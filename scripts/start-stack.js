#!/usr/bin/env node
'use strict';
/**
 * `npm start`: the whole local stack without Docker (Redis must be running).
 *
 * 1. builds dist/ when an app's main.js is missing or older than a source it is built from;
 * 2. checks that Redis answers (scripts/require-redis.js);
 * 3. runs the WeGroup sandbox, the intake API and the delivery worker as child processes,
 *    with demo defaults for every variable that is not already set, and their output
 *    prefixed [sandbox], [api], [worker];
 * 4. Ctrl-C / SIGTERM is forwarded once to every child; the script exits when all have exited.
 *    If one child dies on its own, the others are stopped and the script exits non-zero.
 */
const { spawn, spawnSync } = require('node:child_process');
const { APPS: APP_RUNTIME, nodeCommand } = require('./apps');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const ROOT = path.resolve(__dirname, '..');
const IS_WINDOWS = process.platform === 'win32';
/** Past this, children still running after a stop request are killed outright. */
const STOP_TIMEOUT_MS = 40_000;

// Published demo values, listed once for the apps too: outside WEGROUP_ENV=sandbox the apps
// refuse them at boot, naming the variable.
const PUBLISHED = require('../libs/config/src/published-demo-secrets.json');
const DEMO = {
  source: PUBLISHED.intakeSource,
  apiKey: PUBLISHED.secrets.INTAKE_API_KEYS,
  opsUsername: 'ops',
  opsPassword: PUBLISHED.secrets.OPS_PASSWORD,
  dataKey: PUBLISHED.secrets.DATA_ENCRYPTION_KEY,
};

/** What the bundles are built from: a change to any of these makes dist/ stale. */
const BUILD_INPUTS = ['apps', 'libs', 'package-lock.json', 'nest-cli.json', 'tsconfig.json', 'tsconfig.build.json'];

const APPS = [
  { name: 'sandbox', app: 'wegroup-sandbox' },
  { name: 'api', app: 'intake-api' },
  { name: 'worker', app: 'delivery-worker' },
].map((entry) => ({ ...entry, main: APP_RUNTIME[entry.app].main }));

function log(line) {
  process.stdout.write(`[stack] ${line}\n`);
}

function isSet(env, name) {
  return env[name] !== undefined && env[name].trim() !== '';
}

/** The environment for the children: the caller's, plus demo defaults for what it lacks. */
function buildEnv() {
  const env = { ...process.env };
  const defaults = {};
  const fill = (name, value) => {
    if (!isSet(env, name)) {
      env[name] = value;
      defaults[name] = true;
    }
  };
  fill('PORT', '3000');
  fill('SANDBOX_PORT', '3100');
  // REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS exclude one another.
  if (!isSet(env, 'REDIS_CLUSTER_NODES') && !isSet(env, 'REDIS_SENTINELS')) fill('REDIS_URL', 'redis://127.0.0.1:6379');
  fill('QUEUE_PREFIX', 'wg');
  fill('INTAKE_API_KEYS', `${DEMO.source}:${DEMO.apiKey}`);
  fill('OPS_USERNAME', DEMO.opsUsername);
  fill('OPS_PASSWORD', DEMO.opsPassword);
  fill('DATA_ENCRYPTION_KEY', DEMO.dataKey);
  fill('WEGROUP_ENV', 'sandbox');
  // Only aim at the local sandbox when the caller did not pick a real WeGroup environment.
  if (env.WEGROUP_ENV.trim() === 'sandbox') fill('WEGROUP_SANDBOX_URL', `http://127.0.0.1:${env.SANDBOX_PORT.trim()}`);
  return { env, defaults };
}

function runSync(command, args, env) {
  const result = spawnSync(command, args, { cwd: ROOT, env, stdio: 'inherit', shell: IS_WINDOWS && command === 'npm' });
  if (result.error) {
    process.stderr.write(`[stack] could not run ${command}: ${result.error.message}\n`);
    return 1;
  }
  return result.status === null ? 1 : result.status;
}

function redisBanner(env) {
  if (isSet(env, 'REDIS_CLUSTER_NODES')) return `cluster ${env.REDIS_CLUSTER_NODES.trim()}`;
  if (isSet(env, 'REDIS_SENTINELS')) return `sentinels ${env.REDIS_SENTINELS.trim()} (${(env.REDIS_SENTINEL_NAME || '').trim()})`;
  return env.REDIS_URL.trim().replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
}

function printBanner(env, defaults) {
  const base = `http://localhost:${env.PORT.trim()}`;
  const lines = [
    '',
    `  Swagger UI    ${base}/docs`,
    // Never a secret here, demo or not: the README's "Try it" has the demo values.
    `  Ops console   ${base}/ops  (sign in as an ops user: OPS_USERS, or OPS_USERNAME / OPS_PASSWORD)`,
    `  Ops dashboard ${base}/ops/queues  (OPS_USERNAME / OPS_PASSWORD` + (defaults.OPS_PASSWORD ? ': the demo password, see README' : '') + ')',
    `  API keys      header X-API-Key, from INTAKE_API_KEYS` + (defaults.INTAKE_API_KEYS ? ` (the demo key of source ${DEMO.source}, see README)` : ''),
    `  WeGroup       ${env.WEGROUP_ENV.trim()}` + (env.WEGROUP_API_URL || env.WEGROUP_SANDBOX_URL ? ` at ${(env.WEGROUP_API_URL || env.WEGROUP_SANDBOX_URL).trim()}` : ''),
    `  Redis         ${redisBanner(env)}`,
    '',
    '  Ready. Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

const READY_TIMEOUT_MS = 120_000;

/** Polls `url` until it answers 200 (true), the time is up or the stack is stopping (false). */
async function waitUntilReady(url, stopping) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !stopping()) {
    try {
      const answer = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await answer.body?.cancel();
      if (answer.status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

/** Copies a child's stream to ours, one prefixed line at a time. */
function pipeWithPrefix(stream, out, prefix) {
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => out.write(`${prefix} ${line}\n`));
}

/** Newest modification time (ms) under `entry`, a file or a folder. */
function newestMtime(entry) {
  const stat = fs.statSync(entry, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const child of fs.readdirSync(entry)) {
    if (child === 'node_modules' || child.startsWith('.') || /\.spec\.ts$/.test(child)) continue;
    newest = Math.max(newest, newestMtime(path.join(entry, child)));
  }
  return newest;
}

/**
 * Why dist/ must be (re)built, or null when it is current: a bundle is missing, or a source
 * changed after the oldest bundle was written (a pull or an edit since the last build).
 */
function buildReason(root = ROOT) {
  const mains = APPS.map((app) => path.join(root, app.main));
  const missing = mains.filter((main) => !fs.existsSync(main));
  if (missing.length > 0) return `${missing.map((main) => path.relative(root, main)).join(', ')} missing`;
  const built = Math.min(...mains.map((main) => fs.statSync(main).mtimeMs));
  const changed = BUILD_INPUTS.find((input) => newestMtime(path.join(root, input)) > built);
  return changed ? `${changed} changed since the last build` : null;
}

function main() {
  const reason = buildReason();
  if (reason) {
    log(`${reason}: running npm run build`);
    const status = runSync('npm', ['run', 'build'], process.env);
    if (status !== 0) {
      process.stderr.write(`[stack] npm run build failed (exit ${status})\n`);
      process.exit(status);
    }
    const stillMissing = APPS.filter((app) => !fs.existsSync(path.join(ROOT, app.main)));
    if (stillMissing.length > 0) {
      process.stderr.write(`[stack] the build did not produce ${stillMissing.map((app) => app.main).join(', ')}\n`);
      process.exit(1);
    }
    // webpack leaves a bundle whose content did not change untouched (compareBeforeEmit):
    // mark all as built now, or the same change would rebuild on every start.
    const now = new Date();
    for (const app of APPS) fs.utimesSync(path.join(ROOT, app.main), now, now);
  }

  const { env, defaults } = buildEnv();

  // require-redis prints its own one-line explanation.
  if (runSync(process.execPath, [path.join(__dirname, 'require-redis.js')], env) !== 0) process.exit(1);

  const children = new Map();
  let stopping = false;
  let failed = false;
  let forceTimer;

  const stopAll = (signal) => {
    for (const child of children.values()) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  };

  const requestStop = (signal) => {
    if (stopping) {
      log(`${signal} again: killing what is left`);
      stopAll('SIGKILL');
      return;
    }
    stopping = true;
    stopAll(signal);
    forceTimer = setTimeout(() => {
      log(`still running after ${STOP_TIMEOUT_MS / 1000} s: killing what is left`);
      stopAll('SIGKILL');
    }, STOP_TIMEOUT_MS);
    forceTimer.unref();
  };

  for (const app of APPS) {
    const child = spawn(process.execPath, nodeCommand(app.app), {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group: a terminal Ctrl-C reaches only us, and we forward it exactly once
      // (a second SIGINT would cut Nest's graceful shutdown short).
      detached: !IS_WINDOWS,
    });
    const prefix = `[${app.name}]`;
    pipeWithPrefix(child.stdout, process.stdout, prefix);
    pipeWithPrefix(child.stderr, process.stderr, prefix);
    children.set(app.name, child);

    child.on('error', (error) => {
      process.stderr.write(`[stack] could not start ${app.name}: ${error.message}\n`);
    });
    child.on('exit', (code, signal) => {
      children.delete(app.name);
      const how = signal ? `signal ${signal}` : `code ${code}`;
      if (!stopping) {
        failed = true;
        process.stderr.write(`[stack] ${app.name} exited unexpectedly (${how}); stopping the others\n`);
        requestStop('SIGTERM');
      } else {
        const clean = code === 0 || (signal !== null && signal !== 'SIGKILL');
        if (!clean) failed = true;
        log(`${app.name} stopped (${how})`);
      }
      if (children.size === 0) {
        clearTimeout(forceTimer);
        process.exitCode = failed ? 1 : 0;
      }
    });
  }

  // The banner says "ready" only once the intake answers /health/ready (Redis reached, worker
  // and sandbox started alongside): a request sent when it appears is served.
  void waitUntilReady(`http://127.0.0.1:${env.PORT.trim()}/health/ready`, () => stopping).then((ready) => {
    if (ready) printBanner(env, defaults);
    else if (!stopping) log(`the intake did not answer ${READY_TIMEOUT_MS / 1000} s after starting: see its lines above`);
  });

  process.on('SIGINT', () => requestStop('SIGINT'));
  process.on('SIGTERM', () => requestStop('SIGTERM'));
  process.on('SIGHUP', () => requestStop('SIGTERM'));
  // Last resort if this script itself dies of an error: do not leave detached children behind.
  process.on('exit', () => stopAll('SIGKILL'));
}

module.exports = { buildReason };

if (require.main === module) main();
