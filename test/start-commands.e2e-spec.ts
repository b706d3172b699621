import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** scripts/apps.js is how `npm start` and the benchmark start each app; the other start commands must agree. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { APPS } = require('../scripts/apps') as { APPS: Record<string, { main: string; nodeArgs: string[] }> };

const root = join(__dirname, '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

describe('start commands', () => {
  const command = (app: string) => ['node', ...APPS[app].nodeArgs, APPS[app].main];

  it.each([
    ['intake-api', 'start:api'],
    ['delivery-worker', 'start:worker'],
    ['wegroup-sandbox', 'start:sandbox'],
  ])('package.json runs %s as scripts/apps.js says', (app, script) => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts[script]).toBe(command(app).join(' '));
  });

  it.each(Object.keys(APPS))('docker-compose.yml runs %s as scripts/apps.js says', (app) => {
    expect(read('docker-compose.yml')).toContain(`command: ${JSON.stringify(command(app)).replace(/","/g, '", "')}`);
  });

  it("the image's default command is the intake's", () => {
    expect(read('Dockerfile')).toContain(`CMD ${JSON.stringify(command('intake-api')).replace(/","/g, '", "')}`);
  });
});

describe('npm start rebuilds a stale dist/', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildReason } = require('../scripts/start-stack') as { buildReason: (root: string) => string | null };
  let tree: string;
  const at = (file: string, seconds: number) => {
    const full = join(tree, file);
    mkdirSync(dirname(full), { recursive: true });
    if (!existsSync(full)) writeFileSync(full, '');
    utimesSync(full, seconds, seconds);
  };

  beforeEach(() => {
    // A copy of the layout only: the sources and the three bundles, with chosen times.
    tree = mkdtempSync(join(tmpdir(), 'start-stack-'));
    at('apps/intake-api/src/main.ts', 1_000);
    at('libs/config/src/env.ts', 1_000);
    for (const app of Object.values(APPS)) at(app.main, 2_000);
  });
  afterEach(() => rmSync(tree, { recursive: true, force: true }));

  it('runs the build as it is when every bundle is newer than every source', () => {
    expect(buildReason(tree)).toBeNull();
  });

  it('builds when a source changed after the build (an edit, a pull)', () => {
    at('libs/config/src/env.ts', 3_000);
    expect(buildReason(tree)).toBe('libs changed since the last build');
  });

  it('builds when one bundle is older than a source, even if the others are newer', () => {
    at(APPS['delivery-worker'].main, 500);
    expect(buildReason(tree)).toMatch(/changed since the last build/);
  });

  it('builds when a bundle is missing', () => {
    rmSync(join(tree, APPS['wegroup-sandbox'].main));
    expect(buildReason(tree)).toBe(`${APPS['wegroup-sandbox'].main} missing`);
  });

  it('does not rebuild for a changed unit spec (not part of any bundle)', () => {
    at('libs/config/src/keyring.spec.ts', 3_000);
    expect(buildReason(tree)).toBeNull();
  });
});

describe('the Node version promised', () => {
  const major = (versionRange: string) => /(\d+)/.exec(versionRange)?.[1];
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;

  it('package.json, the Dockerfile, .ci/run and the README name the same major', () => {
    const promised = major(engines);
    expect(engines).toMatch(/^\^\d+\.\d+/);
    for (const [, image] of read('Dockerfile').matchAll(/^FROM node:(\d+)/gm)) expect(image).toBe(promised);
    expect(read('.ci/run')).toContain(`SUPPORTED_NODE_MAJOR=${promised}`);
    expect(read('README.md')).toContain(`Node ${promised} (${engines.replace('^', '≥ ')})`);
  });

  it('this test runs on it', () => {
    expect(process.versions.node.split('.')[0]).toBe(major(engines));
  });
});
