import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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
