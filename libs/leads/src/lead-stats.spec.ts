import { randomUUID } from 'node:crypto';
import { keyPrefix, LEADS_QUEUE, LeadsQueue } from '@app/queue';
import type { DeliverLeadJobData } from '@app/queue';
import { connectRedis, deleteKeys, uniqueQueuePrefix } from '../../../test/support/redis-keys';
import { readDataKeyring } from './data-keyring.config';
import { readRetentionConfig, readRetryConfig } from './lead-jobs.settings';
import { LeadRepository } from './lead.repository';
import { LATENCY_BINS, latencyBin, latencyOfBin, LeadStats, percentileOf, STATS_BUCKET_MS, STATS_RETENTION_MS } from './lead-stats';

const ENV = { DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 5).toString('base64')}` };

describe('latency histogram', () => {
  it('puts every latency in a bin whose value is within 5 % of it', () => {
    for (const ms of [2, 3, 17, 99, 100, 101, 250, 1_000, 4_321, 60_000, 3_600_000, 86_400_000]) {
      const value = latencyOfBin(latencyBin(ms));
      expect(Math.abs(value - ms) / ms).toBeLessThan(0.05);
    }
    expect(latencyBin(0)).toBe(0);
    expect(latencyBin(-5)).toBe(0);
    expect(latencyBin(Number.MAX_SAFE_INTEGER)).toBe(LATENCY_BINS);
  });

  it('reads nearest-rank percentiles from the bins', () => {
    const latencies = Array.from({ length: 200 }, (_, i) => 10 + i * 7);
    const histogram = new Map<number, number>();
    for (const ms of latencies) histogram.set(latencyBin(ms), (histogram.get(latencyBin(ms)) ?? 0) + 1);
    const sorted = [...latencies].sort((a, b) => a - b);
    for (const p of [0.5, 0.95]) {
      const exact = sorted[Math.ceil(p * sorted.length) - 1];
      expect(Math.abs(percentileOf(histogram, p)! - exact) / exact).toBeLessThan(0.05);
    }
    expect(percentileOf(new Map(), 0.5)).toBeNull();
  });
});

describe('LeadStats (real Redis)', () => {
  const prefix = uniqueQueuePrefix('lead-stats');
  const redis = connectRedis({}, { maxRetriesPerRequest: null });
  const queue = new LeadsQueue(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(prefix), skipMetasUpdate: true });
  const keyring = readDataKeyring(ENV);
  const leads = new LeadRepository(queue, keyring, readRetentionConfig(ENV), readRetryConfig(ENV));
  const stats = new LeadStats(queue);

  afterAll(async () => {
    await queue.close();
    redis.disconnect();
    await deleteKeys(prefix);
  });

  const lead = (source: string, receivedAt: number): DeliverLeadJobData => ({
    lead_id: randomUUID(),
    source,
    distribution_id: 'dist-a',
    received_at: new Date(receivedAt).toISOString(),
    sealed_lead: null,
    body_hash: 'hash',
  });

  it('counts accepted, delivered and failed leads per source in 5-minute buckets, with latency percentiles per bucket', async () => {
    const now = Math.floor(Date.now() / STATS_BUCKET_MS) * STATS_BUCKET_MS + 60_000;
    const earlier = now - 2 * STATS_BUCKET_MS;
    // Accepted now (through the intake's write), delivered and failed in two buckets.
    await leads.enqueueMany([{ data: lead('crm-a', now) }, { data: lead('crm-a', now) }, { data: lead('crm-b', now) }]);
    const latencies = [120, 250, 300, 410, 800, 950, 1_200, 2_000, 9_000, 30_000];
    for (const ms of latencies) await leads.recordOutcome(lead('crm-a', earlier - ms), { status: 'delivered', attempts: 1, wegroupLeadId: null }, earlier);
    await leads.recordOutcome(lead('crm-b', earlier), { status: 'failed', attempts: 3, reason: 'refused' }, earlier);
    await leads.recordOutcome(lead('crm-b', earlier), { status: 'retrying', attempts: 1, reason: 'timeout' }, earlier);

    const hour = await stats.window('1h', Date.now());
    expect(hour.series.t).toHaveLength(12);
    expect(hour.series.t.at(-1)).toBe(Math.floor(Date.now() / STATS_BUCKET_MS) * (STATS_BUCKET_MS / 1000));
    expect(hour.per_source['crm-a']).toEqual({ accepted: 2, delivered: latencies.length, failed: 0 });
    expect(hour.per_source['crm-b']).toEqual({ accepted: 1, delivered: 0, failed: 1 });
    expect(hour.totals).toEqual({ accepted: 3, delivered: latencies.length, failed: 1 });
    const at = hour.series.t.indexOf(Math.floor(earlier / STATS_BUCKET_MS) * (STATS_BUCKET_MS / 1000));
    expect(hour.series.failed[at]).toBe(1);
    const p50 = latencies[Math.ceil(0.5 * latencies.length) - 1];
    const p95 = latencies[Math.ceil(0.95 * latencies.length) - 1];
    expect(Math.abs(hour.series.latency_p50_ms[at]! - p50) / p50).toBeLessThan(0.05);
    expect(Math.abs(hour.series.latency_p95_ms[at]! - p95) / p95).toBeLessThan(0.05);
    // Buckets without deliveries have no latency.
    expect(hour.series.latency_p50_ms.filter((value) => value !== null)).toHaveLength(1);
    expect(hour.series.accepted.reduce((a, b) => a + b, 0)).toBe(3);

    expect((await stats.window('24h')).series.t).toHaveLength(288);
    expect((await stats.window('7d')).series.t).toHaveLength(2016);
  });

  it('expires each bucket 8 days after it ends', async () => {
    const at = Date.now();
    await leads.recordOutcome(lead('crm-ttl', at), { status: 'failed', attempts: 1, reason: 'refused' }, at);
    const start = Math.floor(at / STATS_BUCKET_MS) * STATS_BUCKET_MS;
    const expiresAt = await redis.pexpiretime(stats.layout.bucket(start));
    expect(expiresAt).toBe(start + STATS_BUCKET_MS + STATS_RETENTION_MS);
  });
});
