'use strict';
/**
 * Child processes of a bench run: each one's stdout and stderr go to its own log file (so a
 * failure can be diagnosed), its memory is sampled, and every child still alive when the
 * bench ends (normally, on an error or on Ctrl-C) is stopped.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../..');

/** How often VmRSS is sampled (the fallback when VmHWM cannot be read). */
const RSS_SAMPLE_MS = 250;
/** After this long, a child that ignored SIGTERM is killed. */
const STOP_TIMEOUT_MS = 15_000;

const alive = new Set();

/** /proc's unit of CPU time (USER_HZ), 100 on Linux. */
const CLOCK_TICKS = 100;

class Child {
  constructor(label, app, child, logPath) {
    this.label = label;
    /** Which app this is, for the memory report (`intake-api`, `delivery-worker`, …). */
    this.app = app;
    this.child = child;
    this.pid = child.pid;
    this.logPath = logPath;
    this.exit = undefined;
    this.maxRssKb = 0;
    this.hwmKb = 0;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        alive.delete(this);
        clearInterval(this.sampler);
        resolve(this.exit);
      });
      child.once('error', (error) => {
        fs.appendFileSync(logPath, `\n[bench] could not run: ${error.message}\n`);
        if (child.pid === undefined) {
          this.exit = { code: null, signal: null };
          alive.delete(this);
          resolve(this.exit);
        }
      });
    });
    this.sampler = setInterval(() => this.sampleMemory(), RSS_SAMPLE_MS);
    this.sampler.unref();
  }

  get running() {
    return this.exit === undefined;
  }

  describeExit() {
    if (!this.exit) return 'running';
    return this.exit.signal ? `signal ${this.exit.signal}` : `code ${this.exit.code}`;
  }

  /** Reads VmRSS and VmHWM (peak RSS) from /proc; a no-op where /proc does not exist. */
  sampleMemory() {
    if (!this.running || this.pid === undefined) return;
    let status;
    try {
      status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    } catch {
      return;
    }
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (rss) this.maxRssKb = Math.max(this.maxRssKb, Number(rss[1]));
    if (hwm) this.hwmKb = Math.max(this.hwmKb, Number(hwm[1]));
  }

  /**
   * CPU time (user + system, ms) the process has used so far, from /proc; null where it cannot
   * be read. Per request, it is a figure other load on the machine barely moves, unlike req/s.
   */
  cpuMs() {
    if (!this.running || this.pid === undefined) return null;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    } catch {
      return null;
    }
    // Fields after the command name (which may hold spaces, in parentheses): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  }

  /** Peak RSS in MB so far (VmHWM, or the highest sampled VmRSS); null when neither could be read. */
  peakRssMb() {
    this.sampleMemory();
    const kb = Math.max(this.hwmKb, this.maxRssKb);
    return kb > 0 ? kb / 1024 : null;
  }

  /** The end of the log, for an error message (the log path is printed as well). */
  tail(chars = 2_000) {
    try {
      const text = fs.readFileSync(this.logPath, 'utf8');
      return text.length > chars ? `…${text.slice(-chars)}` : text;
    } catch {
      return '';
    }
  }

  /** Whether the log contains `pattern` (used to wait for a "ready" line). */
  logMatches(pattern) {
    try {
      return pattern.test(fs.readFileSync(this.logPath, 'utf8'));
    } catch {
      return false;
    }
  }

  /** SIGTERM (a clean exit writes CPU profiles), then SIGKILL if it does not exit in time. */
  async stop(timeoutMs = STOP_TIMEOUT_MS) {
    if (!this.running) return this.exit;
    this.child.kill('SIGTERM');
    let timer;
    const late = new Promise((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome === 'late' && this.running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    return this.exit;
  }

  kill() {
    if (this.running) this.child.kill('SIGKILL');
  }
}

class ProcessFailure extends Error {
  constructor(message, child) {
    super(`${message}\n  log: ${child.logPath}`);
    this.child = child;
  }
}

let sequence = 0;

/**
 * Starts `node [nodeArgs] script` from the repository root with exactly `env` (plus PATH),
 * output to `<logDir>/<n>-<label>.log`.
 */
function startNode({ label, app, script, env, nodeArgs = [], logDir }) {
  sequence += 1;
  const logPath = path.join(logDir, `${String(sequence).padStart(2, '0')}-${label}.log`);
  const fd = fs.openSync(logPath, 'a');
  let child;
  try {
    child = spawn(process.execPath, [...nodeArgs, script], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
      stdio: ['ignore', fd, fd],
    });
  } finally {
    fs.closeSync(fd);
  }
  const started = new Child(label, app, child, logPath);
  alive.add(started);
  return started;
}

/**
 * Polls `check` until it returns something truthy. Fails at once if one of `children` exits
 * meanwhile, and after `timeoutMs`; both errors name the child's log file.
 */
async function waitUntil(what, check, { children = [], timeoutMs = 30_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    const dead = children.find((child) => !child.running);
    if (dead) throw new ProcessFailure(`${dead.label} exited (${dead.describeExit()}) while waiting for ${what}`, dead);
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs);
  }
  const why = lastError ? ` (last error: ${lastError.message})` : '';
  const message = `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${why}`;
  throw children.length > 0 ? new ProcessFailure(message, children[0]) : new Error(message);
}

/** Waits until GET `url` answers 200. */
function waitForHttp(url, child, timeoutMs = 30_000) {
  return waitUntil(
    `${child.label}: GET ${url} to answer 200`,
    async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      return response.status === 200;
    },
    { children: [child], timeoutMs },
  );
}

function waitForLog(child, pattern, timeoutMs = 30_000) {
  return waitUntil(`${child.label} to log ${pattern}`, async () => child.logMatches(pattern), { children: [child], timeoutMs });
}

/** A TCP port nobody listens on right now (listen on 0, close, reuse). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Stops every child still running (SIGTERM, then SIGKILL). */
async function stopAll() {
  await Promise.all([...alive].map((child) => child.stop()));
}

/** Last resort, synchronous (process 'exit'): SIGKILL whatever is left. */
function killAll() {
  for (const child of alive) child.kill();
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = { ROOT, Child, ProcessFailure, startNode, waitUntil, waitForHttp, waitForLog, freePort, stopAll, killAll, sleep };
