import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { RedisClient } from './redis-connection';
import { withTimeout } from './with-timeout';

/** Ready means Redis answers a PING within a second, on each of the app's connections. */
@Injectable()
export class RedisHealthIndicator {
  constructor(private readonly health: HealthIndicatorService) {}

  async isHealthy(key: string, clients: RedisClient | RedisClient[], timeoutMs = 1_000) {
    const indicator = this.health.check(key);
    const started = Date.now();
    try {
      await withTimeout(Promise.all([clients].flat().map((client) => client.ping())), timeoutMs);
      return indicator.up({ latency_ms: Date.now() - started });
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
  }
}
