import { UnrecoverableError, Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { Keyring } from '@app/config';
import { DELIVER_LEAD_JOB, DeliverLeadJobData, keyPrefix, LeadJob, LEADS_QUEUE, LeadsQueue } from '@app/queue';
import { connectRedis, deleteKeys, uniqueQueuePrefix } from '../../../test/support/redis-keys';
import { AttemptRecord, HeldRecord } from './lead-job';
import { readDataKeyring } from './data-keyring.config';
import { readRetentionConfig, readRetryConfig } from './lead-jobs.settings';
import { CallbackTooLargeError, LeadRepository, MAX_CALLBACK_BODY_BYTES, MAX_CALLBACKS_PER_LEAD } from './lead.repository';
import { openEvent, openLead, sealEvent, sealLead } from './lead-sealing';

/**
 * Against real Redis and BullMQ: what the repository stores and changes is what BullMQ's
 * scripts do with it (states, deduplication, logs, paging), which a fake could only echo.
 */
const ENV = {
  DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 9).toString('base64')}`,
};

describe('LeadRepository (real Redis)', () => {
  const prefix = uniqueQueuePrefix('lead-repository');
  const redis = connectRedis({}, { maxRetriesPerRequest: null });
  const config = { dataKeyring: readDataKeyring(ENV), retention: readRetentionConfig(ENV), retry: readRetryConfig(ENV) };
  const keyring: Keyring = config.dataKeyring;
  // No meta write: it could land after the cleanup below and outlive the test.
  const queue = new LeadsQueue(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(prefix), skipMetasUpdate: true });
  const leads = new LeadRepository(queue, keyring, config.retention, config.retry);
  // A worker that takes jobs by hand, so each test decides what becomes of them.
  const worker = new Worker(LEADS_QUEUE, null, { connection: redis, prefix: keyPrefix(prefix), autorun: false });
  const token = 'test-token';

  afterAll(async () => {
    await worker.close();
    await queue.close();
    redis.disconnect();
    await deleteKeys(prefix);
  });

  const newLead = (overrides: Partial<DeliverLeadJobData> = {}): DeliverLeadJobData => ({
    lead_id: randomUUID(),
    source: 'acme',
    distribution_id: 'dist-a',
    received_at: new Date().toISOString(),
    sealed_lead: sealLead(keyring, { prospect: { first_name: 'Ada', last_name: 'Lovelace' } }),
    body_hash: 'hash',
    ...overrides,
  });

  /** Stores a lead and has the hand worker take it: the job, active, with our token. */
  async function takeNew(overrides: Partial<DeliverLeadJobData> = {}): Promise<LeadJob> {
    const id = await leads.enqueue({ data: newLead(overrides) });
    const job = (await worker.getNextJob(token)) as LeadJob | undefined;
    if (job?.id !== id) throw new Error(`expected to take ${id}, took ${job?.id}`);
    return job;
  }

  const attempt = (error: string | null, outcome: AttemptRecord['outcome'] = 'permanent'): AttemptRecord => ({
    kind: 'attempt',
    attempt: 1,
    at: new Date().toISOString(),
    duration_ms: 12,
    outcome,
    status_code: outcome === 'delivered' ? 201 : 422,
    error,
    body: '{"echo":"Ada Lovelace"}',
    next_delay_ms: null,
  });

  async function failed(reason: string, log = attempt(`WeGroup answered 422: ${reason}`)): Promise<LeadJob> {
    const job = await takeNew();
    await leads.appendAttempt(job, log);
    await job.moveToFailed(new UnrecoverableError(`summary of ${reason}`), token, false);
    return job;
  }

  async function delivered(): Promise<LeadJob> {
    const job = await takeNew();
    await leads.appendAttempt(job, attempt(null, 'delivered'));
    await job.moveToCompleted({ status_code: 201, lead_id: 'wg-1' }, token, false);
    return job;
  }

  it('stores leads under their own id with the delivery options; a repeat of a deduplication id answers the first lead', async () => {
    const first = newLead();
    const repeat = newLead();
    const dedup = `dedup-${randomUUID()}`;
    const ids = await leads.enqueueMany([
      { data: first, deduplicationId: dedup },
      { data: repeat, deduplicationId: dedup },
    ]);
    expect(ids).toEqual([first.lead_id, first.lead_id]);
    expect(await leads.findData(repeat.lead_id)).toBeNull();
    expect(await leads.findData(first.lead_id)).toEqual(first);

    const job = (await queue.getJob(first.lead_id))!;
    expect(job.name).toBe(DELIVER_LEAD_JOB);
    expect(job.opts).toMatchObject({ attempts: config.retry.scheduleMs.length + 1, backoff: { type: 'wegroup-schedule' } });
    expect(job.opts.deduplication).toEqual({ id: dedup, ttl: config.retention.idempotencyTtlSeconds * 1000 });
    await job.remove();
  });

  it('finds a record with its sealed log opened, and knows no lead it does not hold', async () => {
    const job = await takeNew();
    await leads.appendAttempt(job, attempt('WeGroup answered 422: bad'));
    const { logs } = await queue.getJobLogs(job.id!);
    expect(Keyring.isSealed(logs[0])).toBe(true);
    expect(logs[0]).not.toContain('Lovelace');

    const record = await leads.find(job.id!);
    expect(record).toMatchObject({ id: job.id, state: 'active', attemptsMade: 0, data: job.data, failedReason: null, result: null });
    expect(record!.log).toEqual([expect.objectContaining({ kind: 'attempt', error: 'WeGroup answered 422: bad', body: '{"echo":"Ada Lovelace"}' })]);
    expect(await leads.find(randomUUID())).toBeNull();
    await job.moveToFailed(new UnrecoverableError('x'), token, false);
  });

  it('retries a failed lead with a fresh schedule and a replayed entry; refuses unknown, delivered and queued ones', async () => {
    const job = await failed('retry me');
    await leads.recordRateLimitWait(job, 2_000);
    expect(await leads.retry(job.id!, 'ops')).toBe('retried');
    const record = (await leads.find(job.id!))!;
    expect(record.state).toBe('waiting');
    expect(record.attemptsMade).toBe(0);
    expect(record.data.rate_limited_ms).toBe(0);
    expect(record.log.at(-1)).toEqual({ kind: 'replayed', at: expect.any(String), by: 'ops' });
    // The replay entry is plain JSON, as before (no personal data in it).
    expect((await queue.getJobLogs(job.id!, -1, -1)).logs[0]).toBe(JSON.stringify(record.log.at(-1)));
    expect(await leads.retry(job.id!, 'ops')).toBe('not_finished');
    await (await queue.getJob(job.id!))!.remove();

    expect(await leads.retry(randomUUID(), 'ops')).toBe('not_found');
    const done = await delivered();
    expect(await leads.retry(done.id!, 'ops')).toBe('delivered');
  });

  it('retries the failed leads a filter matches, reading the reason in the sealed log too, up to the limit', async () => {
    const before = Date.now();
    const timeouts = [await failed('upstream timeout A'), await failed('upstream TIMEOUT B'), await failed('timeout C')];
    const other = await failed('invalid postcode');
    const reads: string[] = [];
    const result = await leads.retryFailed({ reason: 'upstream timeout', failedAfter: before, limit: 10 }, 'ops (bulk)', async (read) => {
      reads.push('page');
      return read;
    });
    expect(result).toEqual({ matched: 2, retried: 2 });
    expect(reads.length).toBeGreaterThan(0); // every page read went through the guard
    expect(await queue.getJobState(timeouts[0].id!)).toBe('waiting');
    expect(await queue.getJobState(timeouts[1].id!)).toBe('waiting');
    expect(await queue.getJobState(timeouts[2].id!)).toBe('failed');
    expect(await queue.getJobState(other.id!)).toBe('failed');

    expect(await leads.retryFailed({ failedAfter: before, limit: 1 }, 'ops (bulk)')).toEqual({ matched: 1, retried: 1 });
    expect(await leads.retryFailed({ failedAfter: Date.now() + 60_000, limit: 10 }, 'ops (bulk)')).toEqual({ matched: 0, retried: 0 });
    await queue.obliterate({ force: true });
  });

  it('erases: a queued lead is removed whole, a finished one keeps its metadata and a scrubbed log, one being delivered is left alone', async () => {
    const queued = newLead();
    await leads.enqueue({ data: queued });
    expect(await leads.erase(queued.lead_id)).toEqual({ outcome: 'removed' });
    expect(await leads.find(queued.lead_id)).toBeNull();

    const done = await delivered();
    expect(await leads.erase(done.id!)).toEqual({ outcome: 'scrubbed', had: true });
    const record = (await leads.find(done.id!))!;
    expect(record.state).toBe('completed');
    expect(record.data.sealed_lead).toBeNull();
    expect(record.data.lead_erased_at).toEqual(expect.any(String));
    expect(record.result).toEqual({ status_code: 201, lead_id: 'wg-1' });
    expect(record.log).toEqual([expect.objectContaining({ kind: 'attempt', outcome: 'delivered', body: null, error: null })]);
    const { logs } = await queue.getJobLogs(done.id!);
    expect(logs.join('\n')).not.toContain('Lovelace');
    expect(await leads.erase(done.id!)).toEqual({ outcome: 'scrubbed', had: false });

    const active = await takeNew();
    expect(await leads.erase(active.id!)).toEqual({ outcome: 'busy' });
    expect((await leads.findData(active.id!))?.sealed_lead).toEqual(expect.any(String));
    expect(await leads.erase(randomUUID())).toEqual({ outcome: 'not_found' });
    await queue.obliterate({ force: true });
  });

  it('scrubs after retention only the leads delivered before the cutoff, oldest first', async () => {
    const a = await delivered();
    // The next delivery finishes a millisecond later at least, so a cutoff can fall between them.
    const finishedA = (await queue.getJob(a.id!))!.finishedOn!;
    for (let i = 0; i < 100 && Date.now() <= finishedA; i++) await new Promise((resolve) => setTimeout(resolve, 2));
    const b = await delivered();
    const failedLead = await failed('kept until its own retention');
    const finishedB = (await queue.getJob(b.id!))!.finishedOn!;
    expect(finishedB).toBeGreaterThan(finishedA);

    expect(await leads.scrubDeliveredBefore(finishedB)).toBe(1);
    expect((await leads.findData(a.id!))?.sealed_lead).toBeNull();
    expect((await leads.findData(b.id!))?.sealed_lead).toEqual(expect.any(String));
    expect(await leads.scrubDeliveredBefore(Date.now() + 1_000)).toBe(1);
    expect((await leads.findData(b.id!))?.sealed_lead).toBeNull();
    expect((await leads.findData(failedLead.id!))?.sealed_lead).toEqual(expect.any(String));
    expect(await leads.scrubDeliveredBefore(Date.now() + 1_000)).toBe(0);
    await queue.obliterate({ force: true });
  });

  it("holds a lead for a new sign-in, and releases every held lead of a distribution, across pages, and no other's", async () => {
    const job = await takeNew({ distribution_id: 'dist-held' });
    const until = Date.now() + 300_000;
    const entry: HeldRecord = { kind: 'held', at: new Date().toISOString(), reason: 'broker must sign in again', until: new Date(until).toISOString() };
    await leads.holdUntil(job, entry, until, token);
    expect(await queue.getJobState(job.id!)).toBe('delayed');
    const { logs } = await queue.getJobLogs(job.id!);
    expect(Keyring.isSealed(logs[0])).toBe(true);
    expect((await leads.find(job.id!))!.log).toEqual([entry]);

    // More than one page (500) of held leads, another distribution's among them.
    const held = Array.from({ length: 540 }, (_, n) => newLead({ distribution_id: n % 9 === 0 ? 'dist-other' : 'dist-held' }));
    await queue.addBulk(held.map((data) => ({ name: DELIVER_LEAD_JOB, data, opts: { jobId: data.lead_id, delay: 300_000 } })));
    const mine = held.filter((lead) => lead.distribution_id === 'dist-held').length + 1;
    expect(await leads.releaseHeld('dist-held')).toBe(mine);
    expect(await leads.counts('delayed', 'waiting')).toEqual({ delayed: 540 - (mine - 1), waiting: mine });
    const stillDelayed = await queue.getDelayed(0, -1);
    expect(stillDelayed.every((delayed) => delayed.data.distribution_id === 'dist-other')).toBe(true);
    await queue.obliterate({ force: true });
  });

  it('counts the time a lead waited on 429s, and pauses every delivery', async () => {
    const job = await takeNew();
    await leads.recordRateLimitWait(job, 1_500);
    await leads.recordRateLimitWait(job, 3_500);
    expect((await leads.findData(job.id!))?.rate_limited_ms).toBe(3_500);
    expect(await leads.pausedForMs()).toBe(0);
    await leads.pauseDeliveries(60_000);
    const paused = await leads.pausedForMs();
    expect(paused).toBeGreaterThan(0);
    expect(paused).toBeLessThanOrEqual(60_000);
    await queue.obliterate({ force: true });
  });

  describe('native leads', () => {
    const EVENT = { objectId: 101, subscriptionType: 'contact.creation', email: 'ada@example.com' };
    const nativeLead = (): Partial<DeliverLeadJobData> => ({
      source: 'hubspot-main',
      sealed_lead: null,
      native: { type: 'hubspot', event_id: 'evt-1', sealed_event: sealEvent(keyring, EVENT) },
    });

    it('records the mapped lead sealed as its body, in one write, and keeps the event', async () => {
      const job = await takeNew(nativeLead());
      const mapped = { origin: 'HubSpot', prospect: { first_name: 'Ada', last_name: 'Lovelace' } };
      await leads.recordMapped(job, mapped);
      const data = (await leads.findData(job.id!))!;
      expect(Keyring.isSealed(data.sealed_lead!)).toBe(true);
      expect(data.sealed_lead).not.toContain('Lovelace');
      expect(openLead(keyring, data)).toEqual(mapped);
      expect(openEvent(keyring, data)).toEqual(EVENT);
      expect(job.data.sealed_lead).toBe(data.sealed_lead);
      await queue.obliterate({ force: true });
    });

    it('erases the raw event with the lead: a native lead that failed before it was ever mapped still had personal data', async () => {
      const job = await takeNew(nativeLead());
      await leads.appendAttempt(job, attempt('Mapping of source "hubspot-main" gave no prospect.first_name'));
      await job.moveToFailed(new UnrecoverableError('mapping failed'), token, false);

      expect(await leads.erase(job.id!)).toEqual({ outcome: 'scrubbed', had: true });
      const data = (await leads.findData(job.id!))!;
      expect(data.sealed_lead).toBeNull();
      expect(data.native).toEqual({ type: 'hubspot', event_id: 'evt-1', sealed_event: null });
      expect(data.lead_erased_at).toEqual(expect.any(String));
      expect(openEvent(keyring, data)).toBeNull();
      expect(await leads.erase(job.id!)).toEqual({ outcome: 'scrubbed', had: false });
      await queue.obliterate({ force: true });
    });

    it('retention scrubs a delivered native lead: its mapped body and its raw event', async () => {
      const job = await takeNew(nativeLead());
      await leads.recordMapped(job, { prospect: { first_name: 'Ada', last_name: 'Lovelace' } });
      await job.moveToCompleted({ status_code: 201, lead_id: 'wg-1' }, token, false);
      // A lead kept only its event (an erasure raced a mapping, say): it still counts as holding data.
      const eventOnly = await takeNew(nativeLead());
      await eventOnly.moveToCompleted({ status_code: 201, lead_id: 'wg-2' }, token, false);

      expect(await leads.scrubDeliveredBefore(Date.now() + 1_000)).toBe(2);
      for (const id of [job.id!, eventOnly.id!]) {
        const data = (await leads.findData(id))!;
        expect(data).toMatchObject({ sealed_lead: null, native: { type: 'hubspot', event_id: 'evt-1', sealed_event: null } });
      }
      expect(await leads.scrubDeliveredBefore(Date.now() + 1_000)).toBe(0);
      await queue.obliterate({ force: true });
    });
  });

  describe("WeGroup's callbacks", () => {
    const callback = (n: number, body = `{"status":"s${n}","name":"Ada Lovelace"}`) => ({ received_at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(), content_type: 'application/json', body });
    const listKey = (id: string) => queue.toKey(`lead-callbacks:${id}`);

    it('stores them sealed beside the lead, counts them, keeps the latest 50, expiring with the lead data, and shows them with the lead', async () => {
      const job = await delivered();
      expect(await leads.recordCallback(job.id!, callback(1))).toEqual({ outcome: 'recorded', index: 1 });
      expect(await leads.recordCallback(job.id!, callback(2, 'status=offer_sent'))).toEqual({ outcome: 'recorded', index: 2 });
      const stored = await redis.lrange(listKey(job.id!), 0, -1);
      expect(stored).toHaveLength(2);
      expect(stored.every((line) => Keyring.isSealed(line) && !line.includes('Lovelace'))).toBe(true);
      const ttl = await redis.pttl(listKey(job.id!));
      const days = Math.max(config.retention.deliveredDays, config.retention.failedDays);
      expect(ttl).toBeGreaterThan((days - 1) * 86_400_000);
      expect(ttl).toBeLessThanOrEqual(days * 86_400_000);
      expect((await leads.find(job.id!))!.callbacks).toEqual([callback(1), callback(2, 'status=offer_sent')]);

      for (let n = 3; n <= MAX_CALLBACKS_PER_LEAD + 5; n++) await leads.recordCallback(job.id!, callback(n));
      const kept = (await leads.find(job.id!))!.callbacks;
      expect(kept).toHaveLength(MAX_CALLBACKS_PER_LEAD);
      expect(kept[0]).toEqual(callback(6));
      expect(kept.at(-1)).toEqual(callback(MAX_CALLBACKS_PER_LEAD + 5));
      expect(await leads.recordCallback(job.id!, callback(99))).toEqual({ outcome: 'recorded', index: MAX_CALLBACKS_PER_LEAD + 6 });
      await queue.obliterate({ force: true });
    });

    it('refuses a body over 64 KB, and stores one of exactly 64 KB', async () => {
      const job = await delivered();
      await expect(leads.recordCallback(job.id!, callback(1, 'x'.repeat(MAX_CALLBACK_BODY_BYTES + 1)))).rejects.toBeInstanceOf(CallbackTooLargeError);
      // Counted in UTF-8 bytes: 2 bytes a character here.
      await expect(leads.recordCallback(job.id!, callback(1, 'é'.repeat(MAX_CALLBACK_BODY_BYTES / 2 + 1)))).rejects.toThrow('at most 65536');
      expect(await redis.exists(listKey(job.id!))).toBe(0);
      expect(await leads.recordCallback(job.id!, callback(1, 'x'.repeat(MAX_CALLBACK_BODY_BYTES)))).toEqual({ outcome: 'recorded', index: 1 });
      await queue.obliterate({ force: true });
    });

    it('takes none for an unknown lead, nor for one whose data was erased', async () => {
      const unknown = randomUUID();
      expect(await leads.recordCallback(unknown, callback(1))).toEqual({ outcome: 'ignored', reason: 'unknown' });
      expect(await redis.exists(listKey(unknown))).toBe(0);
      const job = await delivered();
      await leads.erase(job.id!);
      expect(await leads.recordCallback(job.id!, callback(1))).toEqual({ outcome: 'ignored', reason: 'erased' });
      expect(await redis.exists(listKey(job.id!))).toBe(0);
      await queue.obliterate({ force: true });
    });

    it('erasure and retention remove them with the lead data: a finished lead, a queued one, and callbacks left after a scrub', async () => {
      const done = await delivered();
      await leads.recordCallback(done.id!, callback(1));
      expect(await leads.erase(done.id!)).toEqual({ outcome: 'scrubbed', had: true });
      expect(await redis.exists(listKey(done.id!), queue.toKey(`lead-callbacks-count:${done.id!}`))).toBe(0);
      expect((await leads.find(done.id!))!.callbacks).toEqual([]);

      const queued = newLead();
      await leads.enqueue({ data: queued });
      await leads.recordCallback(queued.lead_id, callback(1));
      expect(await leads.erase(queued.lead_id)).toEqual({ outcome: 'removed' });
      expect(await redis.exists(listKey(queued.lead_id))).toBe(0);

      // Stored after the scrub (a race): an erasure request still finds and removes them.
      await redis.rpush(listKey(done.id!), keyring.seal(JSON.stringify(callback(2))));
      expect(await leads.erase(done.id!)).toEqual({ outcome: 'scrubbed', had: true });
      expect(await redis.exists(listKey(done.id!))).toBe(0);
      expect(await leads.erase(done.id!)).toEqual({ outcome: 'scrubbed', had: false });

      const kept = await delivered();
      await leads.recordCallback(kept.id!, callback(1));
      expect(await leads.scrubDeliveredBefore(Date.now() + 1_000)).toBe(1);
      expect(await redis.exists(listKey(kept.id!))).toBe(0);
      await queue.obliterate({ force: true });
    });
  });

  it('counts accepted, delivered and failed leads per source, beside the queue', async () => {
    const source = `counted-${randomUUID()}`;
    const dedup = `dedup-${randomUUID()}`;
    await leads.enqueueMany([{ data: newLead({ source }), deduplicationId: dedup }, { data: newLead({ source }), deduplicationId: dedup }, { data: newLead({ source: `${source}.b` }) }]);
    const outcome = (data: DeliverLeadJobData, status: 'delivered' | 'failed') =>
      leads.recordOutcome(data, status === 'delivered' ? { status, attempts: 1, wegroupLeadId: null } : { status, attempts: 1, reason: 'refused' });
    await outcome(newLead({ source }), 'delivered');
    await outcome(newLead({ source }), 'failed');
    await outcome(newLead({ source }), 'failed');
    // A retry is no outcome: not counted.
    await leads.recordOutcome(newLead({ source }), { status: 'retrying', attempts: 1, reason: 'timeout' });
    const counts = await leads.sourceCounts();
    expect(counts.get(source)).toEqual({ accepted: 1, delivered: 1, failed: 2 });
    expect(counts.get(`${source}.b`)).toEqual({ accepted: 1, delivered: 0, failed: 0 });
    await queue.obliterate({ force: true });
  });

  it('refuses to enqueue in a process without retry settings (the worker)', async () => {
    const workerLeads = new LeadRepository(queue, keyring, config.retention);
    await expect(workerLeads.enqueue({ data: newLead() })).rejects.toThrow('cannot enqueue');
  });
});
