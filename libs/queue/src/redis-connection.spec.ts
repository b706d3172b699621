import { readRedisConfig } from './redis.config';
import { clusterOptions, redisOptions, sentinelOptions } from './redis-connection';

describe('Redis connection settings', () => {
  it('lets producers fail fast and workers wait, on one server', () => {
    expect(redisOptions('producer')).toMatchObject({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    expect(redisOptions('worker')).toMatchObject({ enableOfflineQueue: true, maxRetriesPerRequest: null });
  });

  it('keeps that guidance on a Cluster: per-node options in redisOptions, the offline queue at the cluster level', () => {
    const config = readRedisConfig({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', REDIS_PASSWORD: 'cluster-pass' });
    const producer = clusterOptions('producer', config, 'intake-api');
    expect(producer).toMatchObject({ enableOfflineQueue: false, slotsRefreshTimeout: expect.any(Number) });
    expect(producer.redisOptions).toMatchObject({ maxRetriesPerRequest: 1, connectionName: 'intake-api', password: 'cluster-pass' });
    expect(producer.redisOptions).not.toHaveProperty('enableOfflineQueue');
    expect(producer.redisOptions).not.toHaveProperty('retryStrategy');
    expect(producer.clusterRetryStrategy!(1000)).toBe(2_000);

    const worker = clusterOptions('worker', config, 'delivery-worker');
    expect(worker).toMatchObject({ enableOfflineQueue: true });
    expect(worker.redisOptions).toMatchObject({ maxRetriesPerRequest: null });
    expect(clusterOptions('worker', { password: null, tls: true }, 'w').redisOptions).toMatchObject({ tls: {} });
    expect(clusterOptions('worker', { password: null, tls: false }, 'w').redisOptions).not.toHaveProperty('password');
  });

  it('asks the Sentinels for the primary and follows a failover', () => {
    const config = readRedisConfig({ REDIS_SENTINELS: 's1:26379,s2:26380', REDIS_SENTINEL_NAME: 'leads' });
    if (config.topology.kind !== 'sentinel') throw new Error('expected a sentinel topology');
    const producer = sentinelOptions('producer', { ...config, topology: config.topology }, 'intake-api');
    expect(producer).toMatchObject({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
      ],
      name: 'leads',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
    expect(producer).not.toHaveProperty('failoverDetector');
    expect(producer.sentinelRetryStrategy!(1000)).toBe(2_000);
    expect((producer.reconnectOnError as (error: Error) => unknown)(new Error("READONLY You can't write against a read only replica."))).toBe(2);
    expect((producer.reconnectOnError as (error: Error) => unknown)(new Error('ERR other'))).toBe(false);
    expect(sentinelOptions('worker', { ...config, topology: config.topology }, 'w')).toMatchObject({ maxRetriesPerRequest: null, enableOfflineQueue: true });
    // REDIS_TLS: TLS to the Sentinels as well as to the primary they name.
    expect(sentinelOptions('worker', { ...config, tls: true, topology: config.topology }, 'w')).toMatchObject({
      tls: {},
      sentinelTLS: {},
      enableTLSForSentinelMode: true,
    });
  });
});
