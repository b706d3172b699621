import { DynamicModule, Inject, Logger, Module, OnApplicationShutdown, Optional } from '@nestjs/common';
import { RedisConfig } from './redis.config';
import { LeadEventsQueue, LeadsQueue, MaintenanceQueue } from './lead-jobs';
import { keyPrefix, LEAD_EVENTS_QUEUE, LEADS_QUEUE, MAINTENANCE_QUEUE } from './queue.constants';
import { checkRedisDurability, createRedis, RedisClient, RedisRole } from './redis-connection';
import { ReplicaAck } from './replica-ack';
import { closeWithin } from './with-timeout';

/** The process's Redis connection: the queues write with it, and the rest of the app's Redis state (rate limits, SSO connections, the breaker) goes through it too. */
export const REDIS_CONNECTION = Symbol('REDIS_CONNECTION');

/**
 * A second connection, for the app's own keys beside the queues' (the lead index, counters,
 * audit, events): BullMQ loads its scripts onto the connection it is given, after which
 * ioredis copies them onto every MULTI and pipeline built on it (see LeadsQueue.state).
 */
const STATE_CONNECTION = Symbol('STATE_CONNECTION');

export interface LeadQueueModuleOptions {
  redis: RedisConfig;
  /** `producer` (the intake) fails fast while Redis is away; `worker` waits for it (redis-connection.ts). */
  role: RedisRole;
  /** The connection's name in Redis (CLIENT LIST). */
  connectionName: string;
  /** Warn at boot when Redis may lose queued leads (the worker checks in its processor). */
  checkDurability?: boolean;
  /** The worker's housekeeping queue (the retention sweep), on the same connection. */
  maintenance?: boolean;
  /**
   * A listener for each queue's 'error' events, by the queue's name. Without one BullMQ
   * prints them raw on stderr, between the JSON lines; by default they are dropped, since
   * the connection logs each distinct problem once (createRedis).
   */
  queueErrors?: (queue: string) => (error: Error) => void;
}

function listen<Q extends LeadsQueue | MaintenanceQueue | LeadEventsQueue>(queue: Q, options: LeadQueueModuleOptions): Q {
  queue.on('error', options.queueErrors?.(queue.name) ?? (() => undefined));
  return queue;
}

function withState<Q extends LeadsQueue | LeadEventsQueue>(queue: Q, state: RedisClient): Q {
  queue.state.set(state);
  return queue;
}

/**
 * The Redis connection and the queues on it, created once per process and closed at
 * shutdown, after every other module (this module's hooks run last): the intake has drained
 * its pending bulks, the worker has closed its Workers.
 *
 * With REDIS_WAIT_REPLICAS (the producer only), ReplicaAck is provided on this very
 * connection: WAIT must go out on the connection the queue writes with, and the Queue uses
 * the client it is given. Otherwise ReplicaAck is provided as null.
 */
@Module({})
export class LeadQueueModule implements OnApplicationShutdown {
  private readonly logger = new Logger(LeadQueueModule.name);

  constructor(
    private readonly leads: LeadsQueue,
    @Inject(REDIS_CONNECTION) private readonly redis: RedisClient,
    @Inject(STATE_CONNECTION) private readonly state: RedisClient,
    private readonly events: LeadEventsQueue,
    @Optional() private readonly maintenance?: MaintenanceQueue,
  ) {}

  static forRoot(options: LeadQueueModuleOptions): DynamicModule {
    const prefix = keyPrefix(options.redis.queuePrefix);
    const queues = [
      {
        provide: LeadsQueue,
        inject: [REDIS_CONNECTION, STATE_CONNECTION],
        useFactory: (redis: RedisClient, state: RedisClient) => withState(listen(new LeadsQueue(LEADS_QUEUE, { connection: redis, prefix }), options), state),
      },
      // Both roles: the intake and the worker store events (the worker's own Worker sends them).
      {
        provide: LeadEventsQueue,
        inject: [REDIS_CONNECTION, STATE_CONNECTION],
        useFactory: (redis: RedisClient, state: RedisClient) =>
          withState(listen(new LeadEventsQueue(LEAD_EVENTS_QUEUE, { connection: redis, prefix }), options), state),
      },
      ...(options.maintenance
        ? [
            {
              provide: MaintenanceQueue,
              inject: [REDIS_CONNECTION],
              useFactory: (redis: RedisClient) => listen(new MaintenanceQueue(MAINTENANCE_QUEUE, { connection: redis, prefix }), options),
            },
          ]
        : []),
    ];
    return {
      module: LeadQueueModule,
      global: true,
      providers: [
        {
          provide: REDIS_CONNECTION,
          useFactory: () => {
            const client = createRedis(options.redis, options.role, options.connectionName);
            if (options.checkDurability) void checkRedisDurability(client, new Logger('Redis'));
            return client;
          },
        },
        {
          provide: STATE_CONNECTION,
          useFactory: () => createRedis(options.redis, options.role, `${options.connectionName}:state`),
        },
        ...queues,
        {
          provide: ReplicaAck,
          inject: [REDIS_CONNECTION],
          useFactory: (redis: RedisClient) =>
            options.role === 'producer' && options.redis.waitReplicas > 0 ? new ReplicaAck(redis, options.redis.waitReplicas, options.redis.waitTimeoutMs) : null,
        },
      ],
      exports: [REDIS_CONNECTION, ReplicaAck, ...queues.map((queue) => queue.provide)],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.maintenance) await closeWithin(this.maintenance.close(), 'the maintenance queue', this.logger);
    await closeWithin(this.events.close(), 'the lead events queue', this.logger);
    await closeWithin(this.leads.close(), 'the leads queue', this.logger);
    // BullMQ leaves a connection it was handed open; it is ours to close.
    this.redis.disconnect();
    this.state.disconnect();
  }
}
