import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { keyPrefix } from '@app/queue';
import { connectRedis, deleteKeys, ready, uniqueQueuePrefix } from '../../../../test/support/redis-keys';
import { RedisThrottlerStorage } from './redis-throttler.storage';

describe('RedisThrottlerStorage (real Redis)', () => {
  const prefix = uniqueQueuePrefix('throttler-storage');
  const redis = connectRedis() as Redis;
  const storage = new RedisThrottlerStorage(redis, prefix);
  const WINDOW_MS = 60_000;
  /** Every command the storage sends, by name (the client is real; this only counts). */
  const sent: string[] = [];
  const sendCommand = redis.sendCommand.bind(redis);

  beforeAll(async () => {
    await ready(redis);
    jest.spyOn(redis, 'sendCommand').mockImplementation((command, ...rest) => {
      sent.push(command.name);
      return sendCommand(command, ...rest);
    });
  });

  beforeEach(() => (sent.length = 0));

  afterAll(async () => {
    jest.restoreAllMocks();
    redis.disconnect();
    await deleteKeys(prefix);
  });

  const counterKey = (name: string, key: string) => `${keyPrefix(prefix)}:throttle:${name}:${key}`;
  const scriptCalls = () => sent.filter((name) => name === 'evalsha' || name === 'eval').length;

  it('counts the requests of one turn with one command, each getting the count it would have got alone', async () => {
    const records = await Promise.all(Array.from({ length: 5 }, () => storage.increment('source:a', WINDOW_MS, 10, 0, 'leads')));
    expect(records.map((record) => record.totalHits)).toEqual([1, 2, 3, 4, 5]);
    expect(records.every((record) => !record.isBlocked && record.timeToExpire === 60)).toBe(true);
    expect(scriptCalls()).toBe(1);
    expect(await redis.get(counterKey('leads', 'source:a'))).toBe('5');

    // The next turn goes on from there.
    expect(await storage.increment('source:a', WINDOW_MS, 10, 0, 'leads')).toMatchObject({ totalHits: 6, isBlocked: false });
  });

  it('refuses exactly the requests past the limit, in the order they asked, also within one turn', async () => {
    const records = await Promise.all(Array.from({ length: 5 }, () => storage.increment('source:b', WINDOW_MS, 3, 0, 'leads')));
    expect(records.map((record) => record.isBlocked)).toEqual([false, false, false, true, true]);
    // Without a block duration, a refused request waits for the end of the window.
    expect(records[3]).toEqual({ totalHits: 4, timeToExpire: 60, isBlocked: true, timeToBlockExpire: 60 });
  });

  it('keys, windows and limits of one turn are counted apart', async () => {
    const [a, b, c] = await Promise.all([
      storage.increment('source:c', WINDOW_MS, 1, 0, 'leads'),
      storage.increment('source:d', WINDOW_MS, 1, 0, 'leads'),
      storage.increment('source:c', WINDOW_MS, 1, 0, 'hooks'),
    ]);
    expect([a, b, c].map((record) => [record.totalHits, record.isBlocked])).toEqual([
      [1, false],
      [1, false],
      [1, false],
    ]);
    expect(scriptCalls()).toBe(3);
  });

  it('with a block duration, blocks the key once over the limit and answers blocked until it ends, counting nothing', async () => {
    const first = await Promise.all(Array.from({ length: 3 }, () => storage.increment('ip:203.0.113.7', WINDOW_MS, 2, 30_000, 'refused')));
    expect(first.map((record) => record.isBlocked)).toEqual([false, false, true]);
    expect(first[2].timeToBlockExpire).toBe(30);
    expect(await redis.pttl(`${counterKey('refused', 'ip:203.0.113.7')}:blocked`)).toBeGreaterThan(29_000);

    const later = await Promise.all(Array.from({ length: 4 }, () => storage.increment('ip:203.0.113.7', WINDOW_MS, 2, 30_000, 'refused')));
    expect(later.every((record) => record.isBlocked && record.timeToBlockExpire === 30)).toBe(true);
    // While blocked the window restarted and nothing is counted.
    expect(await redis.get(counterKey('refused', 'ip:203.0.113.7'))).toBeNull();

    sent.length = 0;
    const reads = await Promise.all(Array.from({ length: 4 }, () => storage.blockedFor('ip:203.0.113.7', 'refused', 1_000)));
    expect(reads).toEqual([30, 30, 30, 30]);
    expect(sent.filter((name) => name === 'pttl')).toHaveLength(1);
    expect(await storage.blockedFor('ip:198.51.100.1', 'refused', 1_000)).toBe(0);
  });

  it('fails open when Redis does not answer, and fails closed for the callers that ask to', async () => {
    const away = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => null });
    away.on('error', () => undefined);
    const offline = new RedisThrottlerStorage(away, prefix);
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      await expect(offline.increment('source:e', WINDOW_MS, 1, 0, 'leads')).resolves.toEqual({ totalHits: 0, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
      expect(warned.mock.calls).toEqual([['Rate limiting is suspended while Redis does not answer: no answer within 250 ms']]);
      await expect(offline.incrementOrThrow('source:e', WINDOW_MS, 1, 0, 'leads', 200)).rejects.toThrow();
      await expect(offline.blockedFor('source:e', 'leads', 200)).rejects.toThrow();
    } finally {
      away.disconnect();
    }
  });
});
