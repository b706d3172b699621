import { Injectable } from '@nestjs/common';
import { LeadsQueue } from '@app/queue';
import type { CounterIncrement } from './lead-index.layout';

/**
 * CONTRACT (issue 16): time-bucketed counters (5-minute buckets, kept 8 days) written by the
 * intake (accepted) and the worker (delivered, failed, delivery latency) in the round trips
 * that change the lead's state; read by the console's Overview. Bounded and expiring: never a
 * scan of the queue.
 */

export const STATS_BUCKET_MS = 5 * 60_000;
/** How long a bucket is kept after it ends: the longest window (7 days) and a day to spare. */
export const STATS_RETENTION_MS = 8 * 86_400_000;
export const STATS_WINDOWS = ['1h', '24h', '7d'] as const;
export type StatsWindow = (typeof STATS_WINDOWS)[number];

export interface OutcomeCounts {
  accepted: number;
  delivered: number;
  failed: number;
}

/** One window: totals per source and overall, and one point per 5-minute bucket, oldest first. */
export interface StatsWindowView {
  window: StatsWindow;
  per_source: Record<string, OutcomeCounts>;
  totals: OutcomeCounts;
  series: {
    /** Each bucket's start, in seconds since the epoch (uPlot's x axis). */
    t: number[];
    accepted: number[];
    failed: number[];
    /** Delivery latency (received → delivered) of the leads delivered in the bucket; null when none were. */
    latency_p50_ms: (number | null)[];
    latency_p95_ms: (number | null)[];
  };
}

const WINDOW_BUCKETS: Record<StatsWindow, number> = { '1h': 12, '24h': 288, '7d': 2016 };

/**
 * Delivery latencies are counted in logarithmic bins, 8 per doubling (each about 9 % wide):
 * a bucket holds at most LATENCY_BINS counters however many leads it saw, and a percentile
 * read from them is within about 4.5 % of the true one (the bin's geometric middle).
 */
const BINS_PER_DOUBLING = 8;
/** Up to 2^32 ms (about 50 days): anything slower lands in the last bin. */
export const LATENCY_BINS = 32 * BINS_PER_DOUBLING;

/** The bin of a latency: bin b holds (2^((b-1)/8), 2^(b/8)] ms; bin 0 everything up to 1 ms. */
export function latencyBin(ms: number): number {
  if (!(ms > 1)) return 0;
  return Math.min(LATENCY_BINS, Math.ceil(Math.log2(ms) * BINS_PER_DOUBLING));
}

/** The value a bin stands for: its geometric middle, in whole ms. */
export function latencyOfBin(bin: number): number {
  return bin === 0 ? 1 : Math.round(2 ** ((bin - 0.5) / BINS_PER_DOUBLING));
}

/** The p-th percentile (0..1) of a histogram (bin → count), or null when it is empty. */
export function percentileOf(histogram: Map<number, number>, p: number): number | null {
  let total = 0;
  for (const count of histogram.values()) total += count;
  if (total === 0) return null;
  // Nearest rank: the smallest value with at least p of the counts at or below it.
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (const bin of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(bin)!;
    if (seen >= rank) return latencyOfBin(bin);
  }
  return null;
}

/**
 * The counters' keys and writes: one hash per 5-minute bucket beside the queue (same hash
 * tag), `stats:<bucket start, s>`, with fields `accepted:<source>`, `delivered:<source>`,
 * `failed:<source>` and `latency:<bin>`; each bucket expires STATS_RETENTION_MS after it ends.
 * The counters ride on the index script of the change they count (LeadRepository).
 */
export class LeadStatsLayout {
  constructor(private readonly toKey: (name: string) => string) {}

  static bucketStart(at: number): number {
    return Math.floor(at / STATS_BUCKET_MS) * STATS_BUCKET_MS;
  }

  bucket(start: number): string {
    return this.toKey(`stats:${start / 1000}`);
  }

  /** The counters of `count` leads accepted from a source, now. */
  acceptedCounters(source: string, count: number, now: number): CounterIncrement[] {
    return [this.counter(now, `accepted:${source}`, count)];
  }

  /** The counters of a lead delivered (with its latency, received → delivered) or failed, now. */
  outcomeCounters(source: string, outcome: 'delivered' | 'failed', now: number, latencyMs: number | null): CounterIncrement[] {
    const counters = [this.counter(now, `${outcome}:${source}`, 1)];
    if (outcome === 'delivered' && latencyMs !== null) counters.push(this.counter(now, `latency:${latencyBin(latencyMs)}`, 1));
    return counters;
  }

  private counter(now: number, field: string, by: number): CounterIncrement {
    const start = LeadStatsLayout.bucketStart(now);
    return { key: this.bucket(start), field, by, expireAt: start + STATS_BUCKET_MS + STATS_RETENTION_MS };
  }
}

/** The Overview's numbers, read from the buckets of a window in one pipelined round trip. */
@Injectable()
export class LeadStats {
  readonly layout: LeadStatsLayout;

  constructor(private readonly queue: LeadsQueue) {
    this.layout = new LeadStatsLayout((name) => queue.toKey(name));
  }

  /** The window ending now. */
  async window(window: StatsWindow, now = Date.now()): Promise<StatsWindowView> {
    const buckets = WINDOW_BUCKETS[window];
    const lastStart = LeadStatsLayout.bucketStart(now);
    const starts = Array.from({ length: buckets }, (_, index) => lastStart - (buckets - 1 - index) * STATS_BUCKET_MS);
    const redis = await this.queue.state.get();
    const pipeline = redis.pipeline();
    for (const start of starts) pipeline.hgetall(this.layout.bucket(start));
    const results = (await pipeline.exec()) ?? [];
    const view: StatsWindowView = {
      window,
      per_source: {},
      totals: { accepted: 0, delivered: 0, failed: 0 },
      series: { t: [], accepted: [], failed: [], latency_p50_ms: [], latency_p95_ms: [] },
    };
    starts.forEach((start, index) => {
      const [error, fields] = results[index] ?? [new Error('no answer')];
      if (error) throw error;
      const bucket = { accepted: 0, failed: 0 };
      const latency = new Map<number, number>();
      for (const [field, value] of Object.entries((fields ?? {}) as Record<string, string>)) {
        const cut = field.indexOf(':');
        const what = field.slice(0, cut);
        const count = Number(value) || 0;
        if (what === 'latency') {
          latency.set(Number(field.slice(cut + 1)), count);
        } else if (what === 'accepted' || what === 'delivered' || what === 'failed') {
          const source = (view.per_source[field.slice(cut + 1)] ??= { accepted: 0, delivered: 0, failed: 0 });
          source[what] += count;
          view.totals[what] += count;
          if (what !== 'delivered') bucket[what] += count;
        }
      }
      view.series.t.push(start / 1000);
      view.series.accepted.push(bucket.accepted);
      view.series.failed.push(bucket.failed);
      view.series.latency_p50_ms.push(percentileOf(latency, 0.5));
      view.series.latency_p95_ms.push(percentileOf(latency, 0.95));
    });
    return view;
  }
}
