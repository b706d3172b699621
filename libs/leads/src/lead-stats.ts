import { Injectable } from '@nestjs/common';

/**
 * CONTRACT (issue 16): time-bucketed counters (5-minute buckets, kept 8 days) written by the
 * intake (accepted) and the worker (delivered, failed, delivery latency) in the round trips
 * that change the lead's state; read by the console's Overview. Bounded and expiring: never a
 * scan of the queue.
 */

export const STATS_BUCKET_MS = 5 * 60_000;
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

@Injectable()
export class LeadStats {
  /** The window ending now. */
  window(_window: StatsWindow, _now?: number): Promise<StatsWindowView> {
    throw new Error('LeadStats.window: not built yet');
  }
}
