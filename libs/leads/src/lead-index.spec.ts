import { UnrecoverableError, Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { keyPrefix, LeadJob, LEADS_QUEUE, LeadsQueue } from '@app/queue';
import type { DeliverLeadJobData, RedisClient } from '@app/queue';
import { connectRedis, deleteKeys, scanKeys, uniqueQueuePrefix } from '../../../test/support/redis-keys';
import { readDataKeyring } from './data-keyring.config';
import { InvalidCursorError, LeadIndex, LeadIndexRow, LeadSearchQuery } from './lead-index';
import { LAST_ERROR_MAX_CHARS } from './lead-index.layout';
import { readRetentionConfig, readRetryConfig } from './lead-jobs.settings';
import { LeadRepository } from './lead.repository';
import { sealLead } from './lead-sealing';

/**
 * The index against real Redis, written the way the apps write it (LeadRepository: enqueue,
 * outcomes, holds, replays, erasure) and read through LeadIndex: what a range read, a
 * pipeline and a lazily removed member do is Redis's, which a fake could only echo.
 */
const ENV = { DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}` };

describe('LeadIndex (real Redis)', () => {
  const prefix = uniqueQueuePrefix('lead-index');
  const redis = connectRedis({}, { maxRetriesPerRequest: null });
  const keyring = readDataKeyring(ENV);
  const retention = readRetentionConfig(ENV);
  const queue = new LeadsQueue(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(prefix), skipMetasUpdate: true });
  const leads = new LeadRepository(queue, keyring, retention, readRetryConfig(ENV));
  const index = new LeadIndex(queue, keyring, retention);
  const worker = new Worker(LEADS_QUEUE, null, { connection: redis, prefix: keyPrefix(prefix), autorun: false });

  afterAll(async () => {
    await worker.close();
    await queue.close();
    redis.disconnect();
    await deleteKeys(prefix);
  });

  const newLead = (overrides: Partial<DeliverLeadJobData> = {}): DeliverLeadJobData => ({
    lead_id: randomUUID(),
    source: `src-${randomUUID().slice(0, 8)}`,
    distribution_id: 'dist-a',
    received_at: new Date().toISOString(),
    sealed_lead: sealLead(keyring, { prospect: { first_name: 'Ada', last_name: 'Lovelace' } }),
    body_hash: 'hash',
    ...overrides,
  });

  /** Every row a query finds, page by page (the cursors as given). */
  async function allPages(query: Omit<LeadSearchQuery, 'cursor'>): Promise<LeadIndexRow[]> {
    const rows: LeadIndexRow[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const found = await index.search({ ...query, cursor });
      rows.push(...found.rows);
      if (!found.next_cursor) return rows;
      cursor = found.next_cursor;
    }
    throw new Error('more than 100 pages');
  }

  it('indexes accepted leads as queued with their external ref, but not a deduplicated replay', async () => {
    const data = newLead();
    const dedup = `dedup-${randomUUID()}`;
    const [stored, replay] = await leads.enqueueMany([
      { data, deduplicationId: dedup, externalRef: 'crm-4711' },
      { data: newLead({ source: data.source }), deduplicationId: dedup, externalRef: 'crm-4711' },
    ]);
    expect(replay).toBe(stored);
    expect(await index.row(data.lead_id)).toEqual({
      id: data.lead_id,
      status: 'queued',
      source: data.source,
      external_ref: 'crm-4711',
      wegroup_lead_id: null,
      received_at: data.received_at,
      updated_at: expect.any(String),
      attempts: 0,
      last_error: null,
      erased: false,
    });
    expect((await index.search({ externalRef: 'crm-4711', limit: 10 })).rows.map((row) => row.id)).toEqual([data.lead_id]);
    expect((await index.search({ source: data.source, limit: 10 })).rows).toHaveLength(1);
    // The ref is in no key name: only a keyed MAC of it.
    expect((await scanKeys(redis, `${keyPrefix(prefix)}:*`)).some((key) => key.includes('crm-4711'))).toBe(false);
  });

  it('pages newest first with a cursor, also through many leads received in the same millisecond', async () => {
    const source = `same-ms-${randomUUID().slice(0, 8)}`;
    const at = new Date(Date.now() - 60_000).toISOString();
    const batch = Array.from({ length: 23 }, () => ({ data: newLead({ source, received_at: at }) }));
    const older = { data: newLead({ source, received_at: new Date(Date.parse(at) - 1).toISOString() }) };
    const newer = { data: newLead({ source, received_at: new Date(Date.parse(at) + 1).toISOString() }) };
    await leads.enqueueMany([...batch, older, newer]);

    for (const limit of [1, 4, 10, 23, 100]) {
      const rows = await allPages({ source, limit });
      expect(rows.map((row) => row.id)).toEqual([newer.data.lead_id, ...batch.map(({ data }) => data.lead_id).sort().reverse(), older.data.lead_id]);
    }
    const first = await index.search({ source, limit: 24 });
    expect(first.rows).toHaveLength(24);
    expect(first.next_cursor).not.toBeNull();
    const last = await index.search({ source, limit: 24, cursor: first.next_cursor! });
    expect(last).toEqual({ rows: [expect.objectContaining({ id: older.data.lead_id })], next_cursor: null });
  });

  it('refuses a cursor it did not give', async () => {
    for (const cursor of ['', 'not a cursor', Buffer.from('12:x y').toString('base64url'), 'x'.repeat(300), Buffer.from('abc:def').toString('base64url')]) {
      await expect(index.search({ limit: 10, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    }
  });

  it('follows a lead through its outcomes: by source + status, by WeGroup lead id, by time range', async () => {
    const source = `life-${randomUUID().slice(0, 8)}`;
    const [a, b, c] = [newLead({ source }), newLead({ source }), newLead({ source })];
    await leads.enqueueMany([{ data: a }, { data: b }, { data: c }]);
    await leads.recordOutcome(a, { status: 'retrying', attempts: 1, reason: 'WeGroup answered 503' });
    await leads.recordOutcome(b, { status: 'delivered', attempts: 1, wegroupLeadId: 'wg-lead-1' });
    await leads.recordOutcome(c, { status: 'failed', attempts: 2, reason: `WeGroup answered 400: ${'x'.repeat(300)}` });

    expect((await index.search({ source, status: 'retrying', limit: 10 })).rows).toEqual([expect.objectContaining({ id: a.lead_id, attempts: 1, last_error: 'WeGroup answered 503' })]);
    expect((await index.search({ source, status: 'queued', limit: 10 })).rows).toEqual([]);
    expect((await index.search({ status: 'delivered', source, limit: 10 })).rows).toEqual([expect.objectContaining({ id: b.lead_id, wegroup_lead_id: 'wg-lead-1', last_error: null })]);
    expect((await index.search({ wegroupLeadId: 'wg-lead-1', limit: 10 })).rows.map((row) => row.id)).toEqual([b.lead_id]);
    expect((await index.search({ wegroupLeadId: 'wg-lead-1', status: 'failed', limit: 10 })).rows).toEqual([]);
    const failed = await index.row(c.lead_id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 2 });
    expect(failed!.last_error).toHaveLength(LAST_ERROR_MAX_CHARS);

    const received = Date.parse(a.received_at);
    expect((await index.search({ source, receivedFrom: received + 60_000, limit: 10 })).rows).toEqual([]);
    expect((await index.search({ source, receivedFrom: received - 1, receivedTo: received + 60_000, limit: 10 })).rows).toHaveLength(3);
    expect((await index.search({ id: a.lead_id, source: 'another', limit: 10 })).rows).toEqual([]);
  });

  it('groups failed leads by their reason, largest first; a retried one leaves its group', async () => {
    const source = `groups-${randomUUID().slice(0, 8)}`;
    const reasons = [`timeout ${source}`, `timeout ${source}`, `timeout ${source}`, `refused ${source}`, `refused ${source}`, `mapping ${source}`];
    const failed = reasons.map(() => newLead({ source }));
    await leads.enqueueMany(failed.map((data) => ({ data })));
    for (const [i, data] of failed.entries()) await leads.recordOutcome(data, { status: 'failed', attempts: 1, reason: reasons[i] });
    const ours = async () => (await index.failureGroups(100)).filter((group) => group.reason.endsWith(source));
    expect((await ours()).map(({ reason, count }) => [reason, count])).toEqual([
      [`timeout ${source}`, 3],
      [`refused ${source}`, 2],
      [`mapping ${source}`, 1],
    ]);
    expect((await ours())[0].newest_failed_at).toEqual(expect.any(String));
    // A group's leads, exactly (a reason that is a prefix of another is not that other one).
    expect(new Set(await index.failedWithReason(`timeout ${source}`, 100))).toEqual(new Set(failed.slice(0, 3).map((data) => data.lead_id)));
    expect(await index.failedWithReason(`timeout ${source}`, 2)).toHaveLength(2);
    expect(await index.failedWithReason('timeout', 100)).toEqual([]);
    await leads.recordOutcome(failed[3], { status: 'retrying', attempts: 1, reason: 'again' });
    expect((await ours()).map(({ count }) => count)).toEqual([3, 1, 1]);
    expect(await index.failureGroups(1)).toHaveLength(1);
  });

  it('knows when the oldest lead still on its way was received', async () => {
    const oldest = newLead({ received_at: new Date(Date.now() - 3_600_000).toISOString() });
    const done = newLead({ received_at: new Date(Date.now() - 7_200_000).toISOString() });
    await leads.enqueueMany([{ data: oldest }, { data: done }]);
    await leads.recordOutcome(oldest, { status: 'retrying', attempts: 1, reason: 'WeGroup answered 503' });
    await leads.recordOutcome(done, { status: 'delivered', attempts: 1, wegroupLeadId: null });
    expect(await index.oldestWaiting()).toBe(oldest.received_at);
  });

  it('a hold makes a lead waiting_reauth', async () => {
    // The hand worker takes the oldest waiting job: none but this one.
    await queue.obliterate({ force: true });
    const data = newLead();
    await leads.enqueueMany([{ data }]);
    const job = (await worker.getNextJob('token')) as LeadJob;
    expect(job.id).toBe(data.lead_id);
    await leads.holdUntil(job, { kind: 'held', at: new Date().toISOString(), reason: 'The broker must sign in again', until: new Date(Date.now() + 60_000).toISOString() }, Date.now() + 60_000, 'token');
    expect(await index.row(data.lead_id)).toMatchObject({ status: 'waiting_reauth', last_error: 'The broker must sign in again' });
    await queue.obliterate({ force: true });
  });

  it('a replay makes a failed lead queued again, attempts reset, its last error kept', async () => {
    await queue.obliterate({ force: true });
    const data = newLead();
    await leads.enqueueMany([{ data }]);
    const job = (await worker.getNextJob('token')) as LeadJob;
    expect(job.id).toBe(data.lead_id);
    await leads.recordOutcome(data, { status: 'failed', attempts: 1, reason: 'WeGroup answered 400' });
    await job.moveToFailed(new UnrecoverableError('WeGroup answered 400'), 'token', false);
    expect(await leads.retry(data.lead_id, 'grace')).toBe('retried');
    expect(await index.row(data.lead_id)).toMatchObject({ status: 'queued', attempts: 0, last_error: 'WeGroup answered 400' });
    expect((await index.search({ status: 'failed', source: data.source, limit: 10 })).rows).toEqual([]);
    await queue.obliterate({ force: true });
  });

  it('erasure: a finished lead stays, marked erased, and is no longer found by its external ref or WeGroup lead id; a queued one leaves the index', async () => {
    await queue.obliterate({ force: true });
    const finished = newLead();
    const queued = newLead();
    await leads.enqueueMany([
      { data: finished, externalRef: 'ref-finished' },
      { data: queued, externalRef: 'ref-queued' },
    ]);
    const job = (await worker.getNextJob('token')) as LeadJob;
    expect(job.id).toBe(finished.lead_id);
    await leads.recordOutcome(finished, { status: 'delivered', attempts: 1, wegroupLeadId: 'wg-erase-1' });
    await job.moveToCompleted({ status_code: 201, lead_id: 'wg-erase-1' }, 'token', false);

    expect(await leads.erase(finished.lead_id)).toEqual({ outcome: 'scrubbed', had: true });
    expect(await index.row(finished.lead_id)).toMatchObject({ status: 'delivered', erased: true, external_ref: null, wegroup_lead_id: null });
    expect((await index.search({ externalRef: 'ref-finished', limit: 10 })).rows).toEqual([]);
    expect((await index.search({ wegroupLeadId: 'wg-erase-1', limit: 10 })).rows).toEqual([]);
    const keys = await scanKeys(redis, `${keyPrefix(prefix)}:leads:idx:*`);
    for (const key of keys.filter((k) => k.includes(':idx:ref:') || k.includes(':idx:wegroup:'))) {
      expect(await redis.type(key) === 'zset' ? await redis.zscore(key, finished.lead_id) : await redis.get(key)).not.toBe(finished.lead_id);
    }

    expect(await leads.erase(queued.lead_id)).toEqual({ outcome: 'removed' });
    expect(await index.row(queued.lead_id)).toBeNull();
    expect((await index.search({ externalRef: 'ref-queued', limit: 10 })).rows).toEqual([]);
    expect((await allPages({ limit: 100 })).map((row) => row.id)).not.toContain(queued.lead_id);
    await queue.obliterate({ force: true });
  });

  it('retention: rows expire with the lead, their members are skipped and removed; sets are trimmed by time received', async () => {
    const source = `retention-${randomUUID().slice(0, 8)}`;
    const [kept, expired] = [newLead({ source }), newLead({ source })];
    await leads.enqueueMany([{ data: kept }, { data: expired }]);
    await redis.del(index.layout.meta(expired.lead_id));
    expect((await index.search({ source, limit: 10 })).rows.map((row) => row.id)).toEqual([kept.lead_id]);
    // Removed lazily, after the answer.
    for (let i = 0; i < 50 && (await redis.zscore(index.layout.bySource(source), expired.lead_id)) !== null; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await redis.zscore(index.layout.bySource(source), expired.lead_id)).toBeNull();

    // Received beyond the horizon: trimmed by the next write to the set.
    const ancient = newLead({ source, received_at: new Date(Date.now() - index.layout.horizonMs - 86_400_000).toISOString() });
    await leads.enqueueMany([{ data: ancient }]);
    await leads.enqueueMany([{ data: newLead({ source }) }]);
    expect(await redis.zscore(index.layout.bySource(source), ancient.lead_id)).toBeNull();
    // A row's lifetime is the lead's: a delivered lead's metadata retention.
    await leads.recordOutcome(kept, { status: 'delivered', attempts: 1, wegroupLeadId: null });
    const ttl = await (redis as RedisClient).pttl(index.layout.meta(kept.lead_id));
    expect(ttl).toBeGreaterThan((retention.metadataDays - 1) * 86_400_000);
    expect(ttl).toBeLessThanOrEqual(retention.metadataDays * 86_400_000);
  });
});
