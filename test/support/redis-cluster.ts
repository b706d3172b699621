import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { distinctFreePorts } from './processes';

const run = promisify(execFile);

export interface LocalRedisCluster {
  /** For REDIS_CLUSTER_NODES: `127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`. */
  nodes: string;
  /** Kills the servers and removes their directory. */
  stop(): Promise<void>;
}

/** Output of one server, shown when the cluster does not come up. */
interface Server {
  port: number;
  child: ChildProcess;
  output: string;
  exited: Promise<void>;
  /** It exited, or could not be run at all (no redis-server on the PATH). */
  gone: boolean;
}

/**
 * A throw-away Redis Cluster of three primaries (no replicas) on free local ports, for tests:
 * `redis-server` and `redis-cli` from the PATH, data in a temporary directory (no persistence),
 * each server a child of this process. The cluster bus ports are chosen free as well
 * (`cluster-port`), so nothing depends on port + 10000 being available.
 */
export async function startRedisCluster({ primaries = 3, timeoutMs = 30_000 } = {}): Promise<LocalRedisCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'redis-cluster-'));
  const servers: Server[] = [];
  const killAll = () => servers.forEach((server) => !server.gone && server.child.kill('SIGKILL'));
  // Never leave servers behind, even when the test process ends abruptly.
  process.once('exit', killAll);

  const stop = async () => {
    process.removeListener('exit', killAll);
    for (const server of servers) if (!server.gone) server.child.kill('SIGTERM');
    const gone = Promise.all(servers.map((server) => server.exited));
    const timer = setTimeout(killAll, 3_000);
    await gone;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const ports = await distinctFreePorts(primaries * 2);
    for (let i = 0; i < primaries; i++) {
      const port = ports[i];
      const busPort = ports[primaries + i];
      const child = spawn(
        'redis-server',
        [
          '--port', String(port),
          '--bind', '127.0.0.1',
          '--protected-mode', 'no',
          '--cluster-enabled', 'yes',
          '--cluster-port', String(busPort),
          '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout', '5000',
          '--save', '',
          '--appendonly', 'no',
          '--dir', dir,
          '--daemonize', 'no',
          '--maxmemory-policy', 'noeviction',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const server: Server = { port, child, output: '', gone: false, exited: Promise.resolve() };
      server.exited = new Promise((resolve) => {
        child.once('exit', () => {
          server.gone = true;
          resolve();
        });
        child.once('error', (error) => {
          server.output += `\n[could not run redis-server: ${error.message}]\n`;
          server.gone = true;
          if (child.pid === undefined) resolve(); // never started: no 'exit' will come
        });
      });
      child.stdout?.on('data', (chunk: Buffer) => (server.output += chunk.toString('utf8')));
      child.stderr?.on('data', (chunk: Buffer) => (server.output += chunk.toString('utf8')));
      servers.push(server);
    }

    const deadline = Date.now() + timeoutMs;
    const explain = (what: string, error?: unknown) =>
      new Error(
        `Local Redis Cluster: ${what}${error ? `: ${(error as Error).message}` : ''}\n` +
          servers.map((s) => `----- redis-server :${s.port} -----\n${s.output.slice(-4_000)}`).join('\n'),
      );

    for (const server of servers) {
      await until(deadline, () => pong(server.port), () => server.gone).catch((error) => {
        throw explain(`redis-server on port ${server.port} did not start`, error);
      });
    }

    const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
    try {
      await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: timeoutMs });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw explain(`redis-cli --cluster create failed`, new Error(`${(error as Error).message}\n${stdout}${stderr}`));
    }

    for (const server of servers) {
      await until(deadline, async () => (await command(server.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')).catch((error) => {
        throw explain(`node ${server.port} did not report cluster_state:ok`, error);
      });
    }
    return { nodes: addresses.join(','), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function until(deadline: number, check: () => Promise<boolean> | boolean, gaveUp: () => boolean = () => false): Promise<void> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (gaveUp()) throw new Error('the server exited');
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw lastError instanceof Error ? lastError : new Error('timed out');
}

async function pong(port: number): Promise<boolean> {
  return (await command(port, 'PING')).includes('PONG');
}

/** One inline command over a bare socket: no client library, no cluster redirections. */
function command(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(1_000, () => socket.destroy(new Error(`no answer from port ${port}`)));
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      // A simple string, an error, or a complete bulk string.
      const bulk = /^\$(\d+)\r\n/.exec(reply);
      if ((reply.startsWith('+') || reply.startsWith('-')) && reply.endsWith('\r\n')) socket.end();
      else if (bulk && Buffer.byteLength(reply) >= bulk[0].length + Number(bulk[1]) + 2) socket.end();
    });
    socket.on('end', () => resolve(reply));
    socket.on('close', () => resolve(reply));
    socket.write(`${args.join(' ')}\r\n`);
  });
}
