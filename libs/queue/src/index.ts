export * from './queue.constants';
export * from './redis-connection';
export * from './redis.health';
export * from './circuit-breaker';
export * from './with-timeout';
export * from './replica-ack';
export * from './redis.config';
