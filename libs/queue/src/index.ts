export * from './queue.constants';
export * from './redis-connection';
export * from './redis.health';
