import { randomBytes } from 'node:crypto';
import { DEMO_INTAKE_SOURCE, DEMO_SECRETS, Env } from '@app/config';
import { SANDBOX_DEFAULTS } from '@app/wegroup';
import { readIntakeAppConfig } from './intake-api/src/intake.config';
import { readWorkerAppConfig } from './delivery-worker/src/worker.config';
import { configErrorOf } from '@app/config/testing/config-error';

const OWN = {
  INTAKE_API_KEYS: `acme:${randomBytes(16).toString('hex')}`,
  OPS_USERNAME: 'ops',
  OPS_PASSWORD: randomBytes(12).toString('hex'),
  DATA_ENCRYPTION_KEY: `prod:${randomBytes(32).toString('base64')}`,
  WEGROUP_API_TOKEN: randomBytes(16).toString('hex'),
  WEGROUP_DISTRIBUTION_ID: 'a1b2c3d4-0000-4000-8000-000000000001',
};
/** What compose and `npm start` fill in when nothing is set. */
const DEMO = {
  INTAKE_API_KEYS: `${DEMO_INTAKE_SOURCE}:${DEMO_SECRETS.INTAKE_API_KEYS}`,
  OPS_USERNAME: 'ops',
  OPS_PASSWORD: DEMO_SECRETS.OPS_PASSWORD,
  DATA_ENCRYPTION_KEY: DEMO_SECRETS.DATA_ENCRYPTION_KEY,
  WEGROUP_API_TOKEN: DEMO_SECRETS.WEGROUP_API_TOKEN,
  WEGROUP_DISTRIBUTION_ID: SANDBOX_DEFAULTS.distributionId,
};


const apps: Array<[string, (env: Env) => unknown]> = [
  ['intake', readIntakeAppConfig],
  ['worker', readWorkerAppConfig],
];

describe('published demo secrets', () => {
  it.each(apps)('the %s accepts every demo value in sandbox mode', (_app, read) => {
    expect(() => read(DEMO)).not.toThrow();
    expect(() => read({ ...DEMO, WEGROUP_ENV: 'sandbox' })).not.toThrow();
  });

  it.each(apps)('the %s boots in staging and production with secrets of its own', (_app, read) => {
    for (const WEGROUP_ENV of ['staging', 'production']) expect(() => read({ ...OWN, WEGROUP_ENV })).not.toThrow();
  });

  // Each variable alone, so none of them hides behind another that is checked first.
  it.each([
    ['intake', 'INTAKE_API_KEYS', { INTAKE_API_KEYS: `${OWN.INTAKE_API_KEYS},crm2:${DEMO_SECRETS.INTAKE_API_KEYS}` }],
    ['intake', 'OPS_PASSWORD', { OPS_PASSWORD: DEMO.OPS_PASSWORD }],
    ['intake', 'DATA_ENCRYPTION_KEY', { DATA_ENCRYPTION_KEY: DEMO.DATA_ENCRYPTION_KEY }],
    // The demo key's bytes under another id are still the demo key.
    ['worker', 'DATA_ENCRYPTION_KEY', { DATA_ENCRYPTION_KEY: `renamed:${DEMO.DATA_ENCRYPTION_KEY.split(':')[1]}` }],
    ['worker', 'WEGROUP_API_TOKEN', { WEGROUP_API_TOKEN: DEMO.WEGROUP_API_TOKEN }],
    ['intake', 'WEGROUP_DISTRIBUTION_ID', { WEGROUP_DISTRIBUTION_ID: DEMO.WEGROUP_DISTRIBUTION_ID }],
    ['worker', 'WEGROUP_DISTRIBUTION_ID', { WEGROUP_DISTRIBUTION_ID: DEMO.WEGROUP_DISTRIBUTION_ID }],
  ])('outside sandbox the %s refuses the demo %s with one line naming it, never quoting it', (app, variable, demo: Env) => {
    const read = app === 'intake' ? readIntakeAppConfig : readWorkerAppConfig;
    for (const WEGROUP_ENV of ['staging', 'production']) {
      const error = configErrorOf(() => read({ ...OWN, ...demo, WEGROUP_ENV }));
      expect(error.variable).toBe(variable);
      expect(error.message).toMatch(new RegExp(`^${variable} `));
      expect(error.message).not.toMatch(/\n/);
      for (const value of Object.values(DEMO_SECRETS)) expect(error.message).not.toContain(value.split(':').pop());
    }
  });

  it('keeps the demo data key readable as an old key, so data sealed under it can be moved off it', () => {
    const sealedUnderDemo = readWorkerAppConfig(DEMO).dataKeyring.seal('lead');
    const config = readWorkerAppConfig({ ...OWN, WEGROUP_ENV: 'production', DATA_ENCRYPTION_OLD_KEYS: DEMO.DATA_ENCRYPTION_KEY });
    expect(config.dataKeyring.open(sealedUnderDemo)).toBe('lead');
    expect(config.dataKeyring.seal('lead')).toMatch(/^[^.]+\.prod\./);
  });
});

describe('the intake reads only what it uses', () => {
  const intakeOnly = { ...OWN, WEGROUP_API_TOKEN: undefined, WEGROUP_ENV: 'staging' };

  it('boots in staging without the worker-only WeGroup settings, however they are set', () => {
    expect(() => readIntakeAppConfig(intakeOnly)).not.toThrow();
    const workerOnly = {
      WEGROUP_API_TOKEN_SCOPES: 'offline',
      WEGROUP_API_URL: 'not a url',
      WEGROUP_TIMEOUT_MS: 'soon',
      WORKER_CONCURRENCY: '0',
      RATE_LIMIT_MAX_WAIT_SECONDS: 'soon',
      METRICS_PORT: '0',
    };
    expect(() => readIntakeAppConfig({ ...intakeOnly, ...workerOnly })).not.toThrow();
    expect(configErrorOf(() => readWorkerAppConfig(intakeOnly)).message).toBe('WEGROUP_API_TOKEN is required but not set');
  });

  it('still needs the default distribution outside sandbox (a lead posted without one goes there)', () => {
    expect(configErrorOf(() => readIntakeAppConfig({ ...intakeOnly, WEGROUP_DISTRIBUTION_ID: undefined })).message).toBe(
      'WEGROUP_DISTRIBUTION_ID is required but not set',
    );
  });

  describe('with SSO, which distributions have a route (the 422 decision)', () => {
    const sso = {
      ...OWN,
      WEGROUP_ENV: 'staging',
      WEGROUP_SSO_CLIENT_ID: 'partner',
      WEGROUP_SSO_CLIENT_SECRET: 'partner-secret',
      WEGROUP_SSO_REDIRECT_URI: 'https://leads.example.com/v1/connections/sso/callback',
      TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    };

    it('by default the API token delivers the default distribution, in the worker and as the intake believes', () => {
      expect(readWorkerAppConfig(sso).wegroup.apiToken).toBe(OWN.WEGROUP_API_TOKEN);
      expect(readIntakeAppConfig({ ...sso, WEGROUP_API_TOKEN: undefined }).routes.apiTokenConfigured).toBe(true);
      expect(configErrorOf(() => readWorkerAppConfig({ ...sso, WEGROUP_API_TOKEN: undefined })).message).toBe(
        'WEGROUP_API_TOKEN is required but not set (or set WEGROUP_SSO_ONLY=true to deliver through SSO connections only)',
      );
    });

    it('WEGROUP_SSO_ONLY=true: connections only, in both apps', () => {
      const only = { ...sso, WEGROUP_API_TOKEN: undefined, WEGROUP_SSO_ONLY: 'true' };
      expect(readWorkerAppConfig(only).wegroup.apiToken).toBeNull();
      expect(readIntakeAppConfig(only).routes.apiTokenConfigured).toBe(false);
      expect(configErrorOf(() => readWorkerAppConfig({ ...only, WEGROUP_API_TOKEN: OWN.WEGROUP_API_TOKEN })).variable).toBe('WEGROUP_API_TOKEN');
    });

    it('WEGROUP_SSO_ONLY=true without SSO is refused by both apps', () => {
      for (const read of [readIntakeAppConfig, readWorkerAppConfig]) {
        expect(configErrorOf(() => read({ ...OWN, WEGROUP_SSO_ONLY: 'true' })).variable).toBe('WEGROUP_SSO_ONLY');
      }
    });
  });
});
