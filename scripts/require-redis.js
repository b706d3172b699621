#!/usr/bin/env node
'use strict';
/**
 * Fails fast, with one readable line, when Redis is not there. Used before the tests and by
 * `npm start`, so a missing Redis is a clear message instead of a hang or a wall of stack traces.
 * Exit 0 (silent) when Redis answers PING, 1 otherwise; always done within ~2 s.
 */
const { Redis } = require('ioredis');

const CONNECT_TIMEOUT_MS = 1500;
// Counted from process start, so node's own start-up and loading ioredis are included.
const HARD_LIMIT_MS = 1800;

/** With a Cluster or Sentinels, the first listed node answers for them (a Sentinel answers PING too). */
function firstNode(list) {
  const first = (list || '').split(',').map((entry) => entry.trim()).find(Boolean);
  return first ? `redis://${first}` : undefined;
}

const url = firstNode(process.env.REDIS_CLUSTER_NODES) || firstNode(process.env.REDIS_SENTINELS) || process.env.REDIS_URL || 'redis://127.0.0.1:6379';

/** The URL as shown to humans: never print a password. */
function displayUrl(value) {
  try {
    const parsed = new URL(value);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return value;
  }
}

let finished = false;
let client;

function finish(code, line) {
  if (finished) return;
  finished = true;
  if (line) process.stderr.write(`${line}\n`);
  try {
    if (client) client.disconnect();
  } catch {
    // ignore: we are leaving anyway
  }
  process.exit(code);
}

function unreachable() {
  finish(
    1,
    `Redis is not reachable at ${displayUrl(url)} — start one with: docker run -d -p 6379:6379 redis:7 ` +
      '(or: redis-server --daemonize yes), or set REDIS_URL.',
  );
}

// Belt and braces: DNS lookups or TLS handshakes are not covered by connectTimeout.
setTimeout(unreachable, Math.max(100, HARD_LIMIT_MS - Math.round(process.uptime() * 1000))).unref();

try {
  client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null, // no reconnects
    enableOfflineQueue: false,
    enableReadyCheck: false,
    connectionName: 'require-redis',
    // A password in REDIS_URL takes precedence (ioredis lets the URL win).
    password: (process.env.REDIS_PASSWORD || '').trim() || undefined,
  });
} catch {
  unreachable();
}

// Without a listener, ioredis reports connection errors as unhandled 'error' events.
client.on('error', () => {});

client
  .connect()
  .then(() => client.ping())
  .then(
    () => finish(0),
    (error) => {
      const message = error && error.message ? error.message : String(error);
      // A reply error (e.g. NOAUTH) means Redis is there but refused us: say so instead.
      if (error && error.name === 'ReplyError') {
        finish(1, `Redis at ${displayUrl(url)} refused PING: ${message.split('\n')[0]} — check REDIS_URL.`);
      } else {
        unreachable();
      }
    },
  );
