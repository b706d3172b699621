import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-connection';

/**
 * Redis replicates asynchronously: a write the primary acknowledged is lost if the primary
 * dies before a replica got it and a replica is promoted. `WAIT numreplicas timeout` blocks
 * until that many replicas acknowledged every write made so far *on the connection it is
 * sent on* (replication is one ordered stream, so writes of other connections made before
 * are covered too), and answers how many did.
 *
 * Hence WAIT must go out on the connection the writes went out on: the client a BullMQ Queue
 * was given as `connection` (a Queue uses that instance for its commands, not a duplicate;
 * verified in BullMQ 6.7, `createRedisBackend`: `shared` for a non-blocking queue). A Cluster
 * client sends a keyless WAIT to any node, so it is refused (the configuration refuses
 * REDIS_WAIT_REPLICAS with REDIS_CLUSTER_NODES).
 *
 * A WAIT on a *new* connection (ioredis reconnected, maybe to a promoted replica) says
 * nothing about writes made on the old one, so `mark()` before the writes and `acknowledged`
 * after them answer 0 when the connection closed in between: the caller then treats the
 * writes as unconfirmed (safe: a 503 is retried with the same idempotency key).
 */
export class ReplicaAck {
  /** Bumped each time the connection closes. */
  private closes = 0;

  constructor(
    private readonly client: RedisClient,
    readonly replicas: number,
    readonly timeoutMs: number,
  ) {
    if (client instanceof Cluster) throw new Error('WAIT for replicas is not supported on a Redis Cluster client');
    client.on('close', () => this.closes++);
  }

  /** Identifies the connection the writes about to be made go out on. */
  mark(): number {
    return this.closes;
  }

  /** How many replicas acknowledged the writes made on the marked connection (WAIT), 0 if it was replaced meanwhile. */
  async acknowledged(mark: number): Promise<number> {
    const replicas = Number(await this.client.call('WAIT', this.replicas, this.timeoutMs));
    return this.closes === mark ? replicas : 0;
  }
}
