import { ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

/**
 * The built apps (dist/, made by `npm run build`) as real child processes, so a test can
 * SIGKILL or SIGTERM one. Each child is configured through its environment only; its output
 * is kept in memory and shown only when a test fails (ProcessGroup.explain).
 */

const ROOT = path.resolve(__dirname, '../..');

/** How production starts each app (its Node flags: the intake's and the worker's heap cap). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { nodeCommand } = require('../../scripts/apps') as { nodeCommand: (app: string) => string[] };

export const APP_MAINS = {
  'intake-api': 'dist/apps/intake-api/main.js',
  'delivery-worker': 'dist/apps/delivery-worker/main.js',
  'wegroup-sandbox': 'dist/apps/wegroup-sandbox/main.js',
} as const;

export type AppName = keyof typeof APP_MAINS;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How much of each child's output a failure report shows (the end of it). */
const REPORT_TAIL_CHARS = 12_000;

export function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

export class AppProcess {
  private text = '';
  exit?: Exit;
  readonly exited: Promise<Exit>;

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    const append = (chunk: Buffer) => {
      this.text += chunk.toString('utf8');
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.exited = new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      child.once('error', (error) => {
        this.text += `\n[could not run: ${error.message}]\n`;
        // 'exit' may never come when spawning itself failed.
        if (child.pid === undefined) {
          this.exit = { code: null, signal: null };
          resolve(this.exit);
        }
      });
    });
  }

  /** Everything the child wrote so far, stdout and stderr interleaved as received. */
  get output(): string {
    return this.text;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGKILL unless already gone; resolves once the process has exited. */
  async kill(): Promise<Exit> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /** Waits for the exit, failing (with the output) if it does not come in time. */
  async waitForExit(timeoutMs = 20_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.label} did not exit within ${timeoutMs} ms${this.tail()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Polls `check` until it returns a value (not undefined/false). Fails at once, with the
   * child's output, if the child exits meanwhile, and with the output on timeout.
   */
  async until<T>(what: string, check: () => Promise<T | undefined | false>, { timeoutMs = 20_000, intervalMs = 50 } = {}): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
      if (this.exit) throw new Error(`${this.label} exited (${describeExit(this.exit)}) while waiting for ${what}${this.tail()}`);
      try {
        const value = await check();
        if (value !== undefined && value !== false) return value;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    const why = lastError ? `: ${(lastError as Error).message}` : '';
    throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${why}${this.tail()}`);
  }

  /** Waits until the output, from character `from` on, matches `pattern`. */
  async waitForOutput(pattern: RegExp, { from = 0, timeoutMs = 20_000 } = {}): Promise<string> {
    return this.until(`${this.label} to print ${pattern}`, async () => pattern.exec(this.text.slice(from))?.[0], { timeoutMs });
  }

  tail(): string {
    const text = this.text.length > REPORT_TAIL_CHARS ? `…${this.text.slice(-REPORT_TAIL_CHARS)}` : this.text;
    return `\n----- ${this.label} (pid ${this.child.pid ?? '?'}, ${this.exit ? describeExit(this.exit) : 'running'}) -----\n${text}`;
  }
}

/** Every child a test file started: spawned with a clean environment, killed without fail. */
export class ProcessGroup {
  private readonly all: AppProcess[] = [];

  /** `env` is the child's whole environment (plus PATH and NO_COLOR): nothing leaks from the caller's shell. */
  spawn(app: AppName, env: Record<string, string>, label: string = app): AppProcess {
    // With the flags production uses, so a test sees the heap cap the app really runs under.
    const child = spawn(process.execPath, nodeCommand(app), {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = new AppProcess(`${label} [${app}]`, child);
    this.all.push(started);
    return started;
  }

  /** A delivery worker, once it says it is consuming the queue. */
  async startWorker(env: Record<string, string>, label: string): Promise<AppProcess> {
    const worker = this.spawn('delivery-worker', env, label);
    await worker.waitForOutput(/Delivering leads to/);
    return worker;
  }

  /** An intake API on `env.PORT`, once GET /health/ready answers 200 (Redis reachable). */
  async startIntake(env: Record<string, string>, label: string): Promise<{ process: AppProcess; url: string }> {
    const intake = this.spawn('intake-api', env, label);
    const url = `http://127.0.0.1:${env.PORT}`;
    await intake.until(`${label} GET /health/ready to answer 200`, async () => {
      const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      return response.status === 200;
    });
    return { process: intake, url };
  }

  /** SIGKILL every child still alive (but those in `except`) and wait for each to be gone. */
  async killAll(except: Array<AppProcess | undefined> = []): Promise<void> {
    await Promise.all(this.all.filter((child) => !except.includes(child)).map((child) => child.kill()));
  }

  report(): string {
    return this.all.map((child) => child.tail()).join('\n');
  }

  /**
   * Runs a test body; when it fails, the children's output is appended to the error, so a
   * passing run stays quiet and a failing one shows what the apps said.
   */
  explain(body: () => Promise<void>): () => Promise<void> {
    return async () => {
      const before = this.all.length;
      const alreadyRunning = this.all.filter((child) => child.running);
      try {
        await body();
      } catch (error) {
        const involved = [...alreadyRunning, ...this.all.slice(before)];
        const logs = involved.map((child) => child.tail()).join('\n');
        if (error instanceof Error) {
          error.message += `\n\nOutput of the processes involved:${logs}`;
          throw error;
        }
        throw new Error(`${String(error)}\n\nOutput of the processes involved:${logs}`);
      }
    };
  }
}

/** A TCP port nobody listens on right now (listen on 0, close, reuse). */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `count` free ports, all different (freePort alone may hand out one twice). */
export async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
