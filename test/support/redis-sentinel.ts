import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { AppProcess, distinctFreePorts } from './processes';

/**
 * A private Redis primary, its replica and Sentinels watching them, as child processes
 * (`redis-server`, and `redis-server <conf> --sentinel`, from PATH) on free ports with a
 * temporary directory, so a test can SIGKILL the primary and watch a real failover without
 * touching the Redis other people share. Nothing is persisted (`--save '' --appendonly no`).
 *
 * The Sentinels decide quickly: the primary is down after `downAfterMs` without an answer.
 */

const HOST = '127.0.0.1';

export interface RedisSentinelOptions {
  /** The monitored primary's name (REDIS_SENTINEL_NAME). */
  name?: string;
  /** How many Sentinels; the quorum is a majority of them. */
  sentinels?: number;
  /** `sentinel down-after-milliseconds`. */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. */
  failoverTimeoutMs?: number;
  /** Extra `redis-server` arguments for both data nodes, e.g. ['--min-replicas-to-write', '1']. */
  dataNodeArgs?: string[];
}

export interface RedisAddress {
  host: string;
  port: number;
}

export class RedisSentinelSet {
  private constructor(
    /** REDIS_SENTINELS: comma-separated host:port. */
    readonly sentinels: string,
    /** REDIS_SENTINEL_NAME. */
    readonly name: string,
    readonly primaryPort: number,
    readonly replicaPort: number,
    readonly sentinelPorts: number[],
    private primary: AppProcess,
    private readonly replica: AppProcess,
    private readonly sentinelProcesses: AppProcess[],
    private readonly dir: string,
    private readonly killOnExit: () => void,
    /** Starts a data node again on the original primary's port (empty: nothing is saved), replicating the promoted one. */
    private readonly startPrimaryAgain: () => Promise<AppProcess>,
  ) {}

  /** Starts primary, replica (in sync), then the Sentinels; resolves once every Sentinel knows the replica and the others. */
  static async start(options: RedisSentinelOptions = {}): Promise<RedisSentinelSet> {
    const name = options.name ?? 'leads-primary';
    const count = options.sentinels ?? 1;
    const quorum = Math.floor(count / 2) + 1;
    const dir = await mkdtemp(path.join(tmpdir(), 'redis-sentinel-'));
    const started: AppProcess[] = [];
    // Never leave servers behind, even when the test process ends abruptly.
    const killOnExit = () => started.forEach((node) => node.signal('SIGKILL'));
    process.once('exit', killOnExit);
    try {
      const [primaryPort, replicaPort, ...sentinelPorts] = await distinctFreePorts(2 + count);
      const dataNode = async (role: string, port: number, extra: string[]) => {
        const nodeDir = path.join(dir, role);
        await mkdir(nodeDir);
        const args = [
          '--port', String(port),
          '--bind', HOST,
          '--dir', nodeDir,
          '--save', '',
          '--appendonly', 'no',
          '--maxmemory-policy', 'noeviction',
          // The replica's first sync (and a resync after a failover) without the default 5 s wait.
          '--repl-diskless-sync', 'yes',
          '--repl-diskless-sync-delay', '0',
          ...(options.dataNodeArgs ?? []),
          ...extra,
        ];
        const node = new AppProcess(`redis ${role} :${port}`, spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
        started.push(node);
        await node.until(`redis ${role} to answer PING`, () => command(port, ['PING']).then((reply) => reply === 'PONG'), { timeoutMs: 10_000 });
        return node;
      };
      const primary = await dataNode('primary', primaryPort, []);
      const replica = await dataNode('replica', replicaPort, ['--replicaof', HOST, String(primaryPort)]);
      await replica.until('the replica to be in sync with the primary', async () => /master_link_status:up/.test(String(await command(replicaPort, ['INFO', 'replication']))), {
        timeoutMs: 15_000,
      });

      const sentinels: AppProcess[] = [];
      for (let i = 0; i < count; i++) {
        const port = sentinelPorts[i];
        const conf = path.join(dir, `sentinel-${i + 1}.conf`);
        // A Sentinel rewrites its configuration file, so it gets a writable one of its own.
        await writeFile(
          conf,
          [
            `port ${port}`,
            `bind ${HOST}`,
            `dir ${dir}`,
            `sentinel monitor ${name} ${HOST} ${primaryPort} ${quorum}`,
            `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1_000}`,
            `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 5_000}`,
            `sentinel parallel-syncs ${name} 1`,
            '',
          ].join('\n'),
        );
        const sentinel = new AppProcess(`sentinel-${i + 1} :${port}`, spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] }));
        started.push(sentinel);
        sentinels.push(sentinel);
      }
      for (const [i, sentinel] of sentinels.entries()) {
        const port = sentinelPorts[i];
        await sentinel.until(
          `${sentinel.label} to know the replica${count > 1 ? ` and ${count - 1} other Sentinel(s)` : ''}`,
          async () => {
            const replicas = toRecords(await command(port, ['SENTINEL', 'REPLICAS', name]));
            const known = replicas.some((r) => Number(r.port) === replicaPort && r.flags === 'slave' && r['master-link-status'] === 'ok');
            const peers = count > 1 ? toRecords(await command(port, ['SENTINEL', 'SENTINELS', name])).length : 0;
            return known && peers === count - 1;
          },
          { timeoutMs: 30_000, intervalMs: 200 },
        );
      }
      return new RedisSentinelSet(
        sentinelPorts.map((port) => `${HOST}:${port}`).join(','),
        name,
        primaryPort,
        replicaPort,
        sentinelPorts,
        primary,
        replica,
        sentinels,
        dir,
        killOnExit,
        () => dataNode('primary-again', primaryPort, ['--replicaof', HOST, String(replicaPort)]),
      );
    } catch (error) {
      process.removeListener('exit', killOnExit);
      await Promise.all(started.map((node) => node.kill()));
      await rm(dir, { recursive: true, force: true });
      if (error instanceof Error) error.message += started.map((node) => node.tail()).join('\n');
      throw error;
    }
  }

  /** The primary as the Sentinels report it now (each asked; they must agree). */
  async currentPrimary(): Promise<RedisAddress> {
    const answers = await Promise.all(this.sentinelPorts.map((port) => command(port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name])));
    const addresses = new Set(answers.map((answer) => (answer as string[]).join(':')));
    if (addresses.size !== 1) throw new Error(`the Sentinels disagree on the primary: ${[...addresses].join(' / ')}`);
    const [host, port] = (answers[0] as string[]) ?? [];
    return { host, port: Number(port) };
  }

  /** SIGKILL the original primary: no shutdown, no last words to the replica. */
  async killPrimary(): Promise<void> {
    await this.primary.kill();
  }

  /**
   * After a failover: the killed primary comes back (empty) on its port as a replica of the new
   * primary, as an operator would bring a node back (the Sentinels would convert it too, but
   * only after their 10 s check of a down node), and this resolves once it is in sync. Until
   * then the new primary has no replica.
   */
  async restartOldPrimary(timeoutMs = 20_000): Promise<void> {
    this.primary = await this.startPrimaryAgain();
    await this.primary.until(
      'the old primary to be a replica of the new one, in sync',
      async () => {
        const info = String(await command(this.primaryPort, ['INFO', 'replication']));
        return /role:slave/.test(info) && new RegExp(`master_port:${this.replicaPort}\\b`).test(info) && /master_link_status:up/.test(info);
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  /** Until every Sentinel names the replica as primary and it answers as one; its address. */
  async waitForFailover(timeoutMs = 20_000): Promise<RedisAddress> {
    return this.replica.until(
      'the Sentinels to promote the replica',
      async () => {
        const primary = await this.currentPrimary();
        if (primary.port !== this.replicaPort) return undefined;
        const role = String(await command(this.replicaPort, ['INFO', 'replication']));
        return /role:master/.test(role) ? primary : undefined;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  /** Everything the Redis processes printed, for a failure report. */
  report(): string {
    return [this.primary, this.replica, ...this.sentinelProcesses].map((node) => node.tail()).join('\n');
  }

  async stop(): Promise<void> {
    process.removeListener('exit', this.killOnExit);
    await Promise.all([this.primary, this.replica, ...this.sentinelProcesses].map((node) => node.kill()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** One command on a short-lived connection (no reconnects: a dead node fails at once). */
async function command(port: number, args: string[]): Promise<unknown> {
  const redis = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await redis.call(args[0], ...args.slice(1));
  } finally {
    redis.disconnect();
  }
}

/** SENTINEL REPLICAS / SENTINELS answers: arrays of flat [field, value, …] lists. */
function toRecords(reply: unknown): Array<Record<string, string>> {
  return (reply as string[][]).map((flat) => {
    const record: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]] = flat[i + 1];
    return record;
  });
}
