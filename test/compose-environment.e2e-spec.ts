import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { DEMO_SECRETS } from '@app/config';
import { ComposeInterpolationError, ComposeService, interpolate, renderCompose } from './support/compose-env';
import { AppProcess, distinctFreePorts } from './support/processes';
import { deleteKeys, uniqueQueuePrefix } from './support/redis-keys';

/**
 * docker-compose.yml as a person runs it, without Docker: the file rendered for
 * WEGROUP_ENV=sandbox, staging and production with the README's `.env`, then each of our apps
 * started natively (the built dist/, as scripts/apps.js starts it) with exactly the
 * environment its service gets, compose hostnames pointed at 127.0.0.1 and free ports. An app
 * must reach ready, or, given a published demo secret outside sandbox, refuse with one line
 * naming the variable. The matrix is printed so it can be quoted.
 */

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { nodeCommand } = require('../scripts/apps') as { nodeCommand: (app: string) => string[] };

const ROOT = path.join(__dirname, '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const COMPOSE = read('docker-compose.yml');

/** Our services, how each says it is ready, and the port variable that check uses. */
const APPS = {
  'wegroup-sandbox': { portVariable: 'SANDBOX_PORT', readyPath: '/health' },
  'intake-api': { portVariable: 'PORT', readyPath: '/health/ready' },
  'delivery-worker': { portVariable: 'METRICS_PORT', readyPath: '/health/ready' },
} as const;
type AppName = keyof typeof APPS;
const APP_NAMES = Object.keys(APPS) as AppName[];

/** The runtime image's ENV lines (the Dockerfile's last stage): a container has them too. */
function imageEnv(): Record<string, string> {
  const runtime = read('Dockerfile').split(/^FROM /m).at(-1) as string;
  const env: Record<string, string> = {};
  for (const [, body] of runtime.matchAll(/^ENV ((?:.*\\\n)*.*)$/gm)) {
    for (const [, name, value] of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g)) env[name] = value;
  }
  return env;
}

/** The README's .env for staging/production: its block, each `…` filled with a fresh value of the right shape. */
function readmeDotEnv(mode: string): Record<string, string> {
  const section = read('README.md').split('### Pointing at WeGroup staging or production')[1];
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README: no bash block under "Pointing at WeGroup staging or production"');
  const fresh: Record<string, () => string> = {
    WEGROUP_API_TOKEN: () => randomBytes(24).toString('hex'),
    WEGROUP_DISTRIBUTION_ID: () => randomUUID(),
    INTAKE_API_KEYS: () => `crm:${randomBytes(24).toString('hex')}`,
    OPS_PASSWORD: () => randomBytes(12).toString('hex'),
    DATA_ENCRYPTION_KEY: () => `prod:${randomBytes(32).toString('base64')}`,
  };
  const env: Record<string, string> = {};
  for (const line of block.split('\n')) {
    const match = /^([A-Z_]+)=(\S*)/.exec(line);
    if (!match) continue;
    const [, name, value] = match;
    if (name === 'WEGROUP_ENV') env[name] = mode;
    else if (value === '…') {
      if (!fresh[name]) throw new Error(`README asks for ${name}: the compose test needs a way to make one`);
      env[name] = fresh[name]();
    } else env[name] = value;
  }
  return env;
}

/** The same .env as a user who set only WeGroup's values: every secret left to compose's defaults. */
function withoutOwnSecrets(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !['INTAKE_API_KEYS', 'OPS_PASSWORD', 'DATA_ENCRYPTION_KEY'].includes(name)));
}

interface Outcome {
  status: 'ready' | 'refused' | 'failed';
  detail: string;
}

const matrix: Array<{ row: string } & Record<AppName, Outcome>> = [];

/** Compose's service hostnames in URLs become 127.0.0.1 (and the port we gave that service). */
function pointAtLoopback(value: string, ports: Record<string, number>): string {
  return value.replace(/^(redis|rediss|http|https):\/\/([a-z0-9-]+):(\d+)/, (whole, scheme: string, host: string, port: string) => {
    if (host === 'redis') return `${scheme}://127.0.0.1:${port}`; // the shared test Redis
    if (host in ports) return `${scheme}://127.0.0.1:${ports[host]}`;
    return whole;
  });
}

/**
 * A path inside a bind-mounted directory (SOURCES_FILE=/config/sources.yml, with ./config
 * mounted at /config) becomes the same file in the repository: booted natively there is no
 * /config, and the apps must read exactly the file compose would give them.
 */
function pointAtBinds(value: string, binds: ComposeService['binds']): string {
  for (const { host, container } of binds) {
    if (value === container || value.startsWith(`${container}/`)) return path.join(ROOT, host, value.slice(container.length));
  }
  return value;
}

/** Boots every app of one rendered compose file, in parallel, and says what became of each. */
async function bootAll(row: string, dotEnv: Record<string, string>): Promise<Record<AppName, Outcome & { output: string }>> {
  const services = renderCompose(COMPOSE, dotEnv);
  const ports = Object.fromEntries(APP_NAMES.map((app) => [app, 0])) as Record<AppName, number>;
  const free = await distinctFreePorts(APP_NAMES.length);
  APP_NAMES.forEach((app, i) => (ports[app] = free[i]));
  const queuePrefix = uniqueQueuePrefix(`compose-${row.replace(/[^A-Za-z0-9]+/g, '-')}`);
  try {
    const results = await Promise.all(
      APP_NAMES.map(async (app) => {
        const service = services[app];
        expect(service.command).toEqual(['node', ...nodeCommand(app)]);
        const env: Record<string, string> = { PATH: process.env.PATH ?? '', ...imageEnv() };
        for (const [name, value] of Object.entries(service.environment)) env[name] = pointAtBinds(pointAtLoopback(value, ports), service.binds);
        env[APPS[app].portVariable] = String(ports[app]);
        if ('QUEUE_PREFIX' in env) env.QUEUE_PREFIX = queuePrefix;
        const child = new AppProcess(`${row} ${app}`, spawn(process.execPath, service.command!.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
        try {
          return [app, { ...(await outcomeOf(child, `http://127.0.0.1:${ports[app]}${APPS[app].readyPath}`)), output: child.output }] as const;
        } finally {
          await child.kill();
        }
      }),
    );
    const outcomes = Object.fromEntries(results) as Record<AppName, Outcome & { output: string }>;
    matrix.push({ row, ...outcomes });
    return outcomes;
  } finally {
    await deleteKeys(queuePrefix);
  }
}

/** Ready (the health check answers 200) or refused (exited with its one line); bounded by the check's own timeout. */
async function outcomeOf(child: AppProcess, readyUrl: string): Promise<Outcome> {
  try {
    await child.until(
      `${readyUrl} to answer 200`,
      async () => {
        const response = await fetch(readyUrl, { signal: AbortSignal.timeout(2_000) });
        await response.arrayBuffer();
        return response.status === 200;
      },
      { timeoutMs: 40_000, intervalMs: 100 },
    );
    return { status: 'ready', detail: `${new URL(readyUrl).pathname} 200` };
  } catch (error) {
    await child.waitForExit(5_000).catch(() => undefined);
    const lines = child.output.trim().split('\n');
    if (child.exit && child.exit.code !== 0 && lines.length === 1 && lines[0].startsWith('Configuration error: ')) {
      return { status: 'refused', detail: lines[0].replace('Configuration error: ', '') };
    }
    return { status: 'failed', detail: (error as Error).message.split('\n')[0] };
  }
}

const variableOf = (outcome: Outcome) => outcome.detail.split(' ')[0];

describe('docker-compose.yml booted natively, per WEGROUP_ENV', () => {
  afterAll(() => {
    const width = Math.max(...matrix.map((m) => m.row.length));
    const lines = matrix.flatMap((m) => APP_NAMES.map((app) => `  ${m.row.padEnd(width)}  ${app.padEnd(16)} ${m[app].status.padEnd(8)} ${m[app].detail}`));
    process.stdout.write(`\ncompose environment matrix (mode × app):\n${lines.join('\n')}\n\n`);
  });

  it('sandbox, no .env (README: docker compose up --build): every app reaches ready', async () => {
    const outcomes = await bootAll('sandbox', {});
    for (const app of APP_NAMES) expect({ app, ...outcomes[app] }).toMatchObject({ app, status: 'ready' });
  });

  it.each(['staging', 'production'])('%s with the README\'s .env and secrets of our own: every app reaches ready', async (mode) => {
    const dotEnv = readmeDotEnv(mode);
    const outcomes = await bootAll(`${mode} own secrets`, dotEnv);
    for (const app of APP_NAMES) expect({ app, ...outcomes[app] }).toMatchObject({ app, status: 'ready' });
    // The token is the worker's alone; the intake boots without it.
    const services = renderCompose(COMPOSE, dotEnv);
    expect(services['intake-api'].environment).not.toHaveProperty('WEGROUP_API_TOKEN');
    expect(services['delivery-worker'].environment.WEGROUP_API_TOKEN).toBe(dotEnv.WEGROUP_API_TOKEN);
  });

  it.each(['staging', 'production'])('%s with only WeGroup\'s values set: intake and worker refuse the demo secrets, naming one', async (mode) => {
    const outcomes = await bootAll(`${mode} demo secrets`, withoutOwnSecrets(readmeDotEnv(mode)));
    expect(outcomes['wegroup-sandbox'].status).toBe('ready');
    for (const app of ['intake-api', 'delivery-worker'] as const) {
      expect({ app, status: outcomes[app].status }).toEqual({ app, status: 'refused' });
      expect(Object.keys(DEMO_SECRETS)).toContain(variableOf(outcomes[app]));
      for (const secret of Object.values(DEMO_SECRETS)) expect(outcomes[app].output).not.toContain(secret.split(':').pop());
    }
  });
});

describe('native sources in compose', () => {
  it('intake and worker read SOURCES_FILE from ./config, mounted read-only at /config; the committed file declares no source', () => {
    const services = renderCompose(COMPOSE, {});
    const raw = parseYaml(COMPOSE, { merge: true }) as { services: Record<string, { volumes?: string[] }> };
    for (const app of ['intake-api', 'delivery-worker'] as const) {
      expect(raw.services[app].volumes).toContain('./config:/config:ro');
      expect(services[app].environment.SOURCES_FILE).toBe('/config/sources.yml');
      expect(pointAtBinds(services[app].environment.SOURCES_FILE, services[app].binds)).toBe(path.join(ROOT, 'config', 'sources.yml'));
    }
    expect(services['wegroup-sandbox'].environment).not.toHaveProperty('SOURCES_FILE');
    expect(parseYaml(read('config/sources.yml'))).toEqual({ sources: [] });
  });
});

describe('the compose renderer', () => {
  const vars = { SET: 'value', EMPTY: '' };

  it.each([
    ['${SET}', 'value'],
    ['$SET/x', 'value/x'],
    ['${UNSET}', ''],
    ['${UNSET:-d}', 'd'],
    ['${EMPTY:-d}', 'd'],
    ['${EMPTY-d}', ''],
    ['${UNSET-d}', 'd'],
    ['${SET:-d}', 'value'],
    ['${SET:?needed}', 'value'],
    ['${EMPTY?needed}', ''],
    ['$$SET', '$SET'],
    ['a=${SET-}b', 'a=valueb'],
  ])('%s → %j', (input, output) => {
    expect(interpolate(input, vars)).toBe(output);
  });

  it.each(['${UNSET:?needed}', '${EMPTY:?needed}', '${UNSET?needed}'])('%s stops with the message', (input) => {
    expect(() => interpolate(input, vars)).toThrow(ComposeInterpolationError);
    expect(() => interpolate(input, vars)).toThrow(/needed/);
  });

  const dockerCompose = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' });
  const withDockerCompose = dockerCompose.status === 0 ? it : it.skip;

  withDockerCompose.each(['sandbox', 'staging'])('agrees with `docker-compose config` on every service environment (%s)', (mode) => {
    const dotEnv = mode === 'sandbox' ? {} : readmeDotEnv(mode);
    const dir = mkdtempSync(path.join(tmpdir(), 'compose-config-'));
    try {
      copyFileSync(path.join(ROOT, 'docker-compose.yml'), path.join(dir, 'docker-compose.yml'));
      mkdirSync(path.join(dir, 'deploy'));
      copyFileSync(path.join(ROOT, 'deploy/intake-proxy.conf'), path.join(dir, 'deploy/intake-proxy.conf'));
      mkdirSync(path.join(dir, 'config'));
      copyFileSync(path.join(ROOT, 'config/sources.yml'), path.join(dir, 'config/sources.yml'));
      writeFileSync(path.join(dir, '.env'), Object.entries(dotEnv).map(([name, value]) => `${name}=${value}\n`).join(''));
      // .env as compose reads it, and nothing from this shell (compose would let it win).
      const result = spawnSync('docker-compose', ['config'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir } });
      expect(result.stderr).toBe('');
      const rendered = parseYaml(result.stdout) as { services: Record<string, { environment?: Record<string, string | null> }> };
      const ours = renderCompose(COMPOSE, parseEnv(readFileSync(path.join(dir, '.env'), 'utf8')));
      for (const [name, service] of Object.entries(rendered.services)) {
        const theirs = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]));
        expect({ service: name, environment: ours[name].environment }).toEqual({ service: name, environment: theirs });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
