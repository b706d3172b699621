'use strict';
/**
 * The bench's own Redis access: one connection for queue counts, pausing, seeding and key
 * cleanup. Redis is shared with other people and tests, so every run writes under its own
 * QUEUE_PREFIXes and deletes exactly those keys (SCAN + UNLINK), never a whole database.
 */
const { randomBytes } = require('node:crypto');
const { Queue } = require('bullmq');
const Redis = require('ioredis');
const { keyPrefix, LEADS_QUEUE } = require('./project');

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

class BenchRedis {
  constructor() {
    this.runId = randomBytes(4).toString('hex');
    this.redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2_000, lazyConnect: true });
    // Reported by the commands that fail; the event itself needs a listener.
    this.redis.on('error', () => {});
    /** Every prefix handed out: deleted at the end, also after a failure or Ctrl-C. */
    this.prefixes = new Set();
    this.queues = new Map();
  }

  async connect() {
    await this.redis.connect();
    await this.redis.ping();
  }

  async serverVersion() {
    const info = await this.redis.info('server');
    return /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown';
  }

  /** A QUEUE_PREFIX for one measurement, unique to this run. */
  newPrefix(name) {
    const prefix = `bench-${this.runId}-${name}`;
    this.prefixes.add(prefix);
    return prefix;
  }

  /** A BullMQ Queue on the shared connection (closing it leaves the connection open). */
  queue(prefix) {
    let queue = this.queues.get(prefix);
    if (!queue) {
      queue = new Queue(LEADS_QUEUE, { connection: this.redis, prefix: keyPrefix(prefix) });
      queue.on('error', () => {});
      this.queues.set(prefix, queue);
    }
    return queue;
  }

  /** Jobs of the queue by state. */
  counts(prefix) {
    return this.queue(prefix).getJobCounts('waiting', 'paused', 'prioritized', 'active', 'delayed', 'completed', 'failed');
  }

  /** Jobs stored and not finished. */
  async pending(prefix) {
    const c = await this.counts(prefix);
    return c.waiting + c.paused + c.prioritized + c.active + c.delayed;
  }

  /**
   * First and last completion times (ms) of the queue: BullMQ scores its completed set by
   * finishedOn, so this is exact without reading any job.
   */
  async completionSpan(prefix) {
    const key = `${keyPrefix(prefix)}:${LEADS_QUEUE}:completed`;
    const [first, last] = await Promise.all([this.redis.zrange(key, 0, 0, 'WITHSCORES'), this.redis.zrange(key, -1, -1, 'WITHSCORES')]);
    if (first.length < 2 || last.length < 2) return null;
    return { firstMs: Number(first[1]), lastMs: Number(last[1]) };
  }

  /** Deletes this prefix's keys only. */
  async deleteKeys(prefix) {
    const queue = this.queues.get(prefix);
    if (queue) {
      this.queues.delete(prefix);
      await queue.close().catch(() => {});
    }
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${keyPrefix(prefix)}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await this.redis.unlink(...keys);
    } while (cursor !== '0');
    this.prefixes.delete(prefix);
    return deleted;
  }

  /** Deletes the keys of every prefix this run used; returns the prefixes it could not clean. */
  async deleteAllKeys() {
    const failed = [];
    for (const prefix of [...this.prefixes]) {
      try {
        await this.deleteKeys(prefix);
      } catch {
        failed.push(prefix);
      }
    }
    return failed;
  }

  async close() {
    for (const queue of this.queues.values()) await queue.close().catch(() => {});
    this.queues.clear();
    this.redis.disconnect();
  }
}

module.exports = { BenchRedis, REDIS_URL };
