import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '@app/queue';
import { OpsSessions } from './ops-sessions';

/** Against the real Redis (REDIS_URL), on a prefix of its own; the clock is the test's. */
describe('ops console sessions', () => {
  const prefix = `ops-sessions-spec-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') as unknown as RedisClient;
  let now = Date.parse('2026-11-30T10:00:00Z');
  const sessions = new OpsSessions(redis, prefix, { idleMs: 30 * 60_000, maxAgeMs: 12 * 3_600_000 }, () => now);
  const user = { name: 'otto', role: 'operator' as const };

  afterAll(async () => {
    const keys = await redis.keys(`{${prefix}}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('keeps a session under the queue’s hash tag by a digest of its id, with the idle timeout as its expiry', async () => {
    const id = await sessions.create(user);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [key] = await redis.keys(`{${prefix}}:ops:session:*`);
    expect(key).not.toContain(id);
    expect(await redis.get(key)).not.toContain(id);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(29 * 60_000);
    expect(ttl).toBeLessThanOrEqual(30 * 60_000);
    const session = await sessions.touch(id);
    expect(session?.user).toEqual(user);
    expect(session?.csrfSecret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    await sessions.destroy(id);
    expect(await sessions.touch(id)).toBeNull();
  });

  it('gives a new id and CSRF secret at every sign-in', async () => {
    const [a, b] = [await sessions.create(user), await sessions.create(user)];
    expect(a).not.toBe(b);
    expect((await sessions.touch(a))!.csrfSecret).not.toBe((await sessions.touch(b))!.csrfSecret);
  });

  it('ends a session its absolute lifetime after sign-in, however busy', async () => {
    const id = await sessions.create(user);
    now += 11 * 3_600_000;
    expect(await sessions.touch(id)).not.toBeNull();
    now += 3_600_000;
    expect(await sessions.touch(id)).toBeNull();
    // And it is gone from Redis, not only refused.
    now -= 12 * 3_600_000;
    expect(await sessions.touch(id)).toBeNull();
  });

  it('never asks Redis about a cookie that is no id of ours', async () => {
    for (const value of [undefined, '', 'short', 'x'.repeat(43) + '=', '../../etc/passwd'.padEnd(43, 'a'), 'ä'.repeat(43)]) {
      expect(await sessions.touch(value)).toBeNull();
    }
  });
});
