import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { RedisClient } from './redis-connection';
import { withTimeout } from './with-timeout';

/** Ready means Redis answers a PING within a second. */
@Injectable()
export class RedisHealthIndicator {
  constructor(private readonly health: HealthIndicatorService) {}

  async isHealthy(key: string, client: RedisClient, timeoutMs = 1_000) {
    const indicator = this.health.check(key);
    const started = Date.now();
    try {
      await withTimeout(client.ping(), timeoutMs);
      return indicator.up({ latency_ms: Date.now() - started });
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
  }
}
