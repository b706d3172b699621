import { randomBytes } from 'node:crypto';
import { ConfigError } from '@app/config';
import { SourceDefinition } from '@app/sources';
import { readIntakeConfig, sourceRegistry } from './intake.config';

const base = { INTAKE_API_KEYS: 'acme:acme-key-0123456789abcdef,beta:beta-key-0123456789abcdef', OPS_USERNAME: 'ops', OPS_PASSWORD: 'ops-password' };
const secret = (bytes = 32) => `whsec_${randomBytes(bytes).toString('base64')}`;

function errorOf(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('intake edge configuration', () => {
  it('defaults: no signing secrets, 600 requests per minute, https-only URLs', () => {
    const intake = readIntakeConfig(base);
    expect(intake.webhookSecrets.size).toBe(0);
    expect(intake.rateLimit).toEqual({ limit: 600, windowMs: 60_000 });
    expect(intake.allowHttpUrls).toBe(false);
    expect(intake.batchBodyLimitBytes).toBe(5 * 1024 * 1024);
  });

  it('reads several secrets per source, in order, for rotation', () => {
    const [a1, a2, b1] = [secret(), secret(24), secret(64)];
    const intake = readIntakeConfig({ ...base, INTAKE_WEBHOOK_SECRETS: ` acme:${a1}, beta:${b1} ,acme:${a2}` });
    expect(Object.fromEntries(intake.webhookSecrets)).toEqual({ acme: [a1, a2], beta: [b1] });
  });

  it('reads which proxies to trust: none by default, else addresses, CIDRs and range names', () => {
    expect(readIntakeConfig(base).trustProxy).toBe(false);
    expect(readIntakeConfig({ ...base, INTAKE_TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(readIntakeConfig({ ...base, INTAKE_TRUST_PROXY: 'uniquelocal' }).trustProxy).toEqual(['uniquelocal']);
    expect(readIntakeConfig({ ...base, INTAKE_TRUST_PROXY: '10.0.0.0/8, 192.168.1.4,::1' }).trustProxy).toEqual(['10.0.0.0/8', '192.168.1.4', '::1']);
  });

  it('reads the batch body limit', () => {
    expect(readIntakeConfig({ ...base, INTAKE_BATCH_BODY_LIMIT_BYTES: '1048576' }).batchBodyLimitBytes).toBe(1_048_576);
  });

  it('reads the budget of body bytes in flight: 8 MiB, or one largest batch when that is more', () => {
    expect(readIntakeConfig(base).bodyBudgetBytes).toBe(8 * 1024 * 1024);
    expect(readIntakeConfig({ ...base, INTAKE_BATCH_BODY_LIMIT_BYTES: '16777216' }).bodyBudgetBytes).toBe(16_777_216);
    expect(readIntakeConfig({ ...base, INTAKE_BODY_BUDGET_BYTES: '20971520' }).bodyBudgetBytes).toBe(20_971_520);
  });

  it('reads the rate limit and the http switch', () => {
    const intake = readIntakeConfig({ ...base, INTAKE_RATE_LIMIT: '5', INTAKE_RATE_LIMIT_WINDOW_MS: '1000', ALLOW_HTTP_URLS: 'true' });
    expect(intake.rateLimit).toEqual({ limit: 5, windowMs: 1000 });
    expect(intake.allowHttpUrls).toBe(true);
  });

  it.each([
    [{ INTAKE_WEBHOOK_SECRETS: 'acme' }, 'INTAKE_WEBHOOK_SECRETS must be comma-separated source:whsec_… pairs'],
    [{ INTAKE_WEBHOOK_SECRETS: `ghost:${secret()}` }, 'INTAKE_WEBHOOK_SECRETS names source "ghost", which has no key in INTAKE_API_KEYS'],
    [{ INTAKE_WEBHOOK_SECRETS: `acme:${randomBytes(32).toString('base64')}` }, 'INTAKE_WEBHOOK_SECRETS secret for source "acme" must be "whsec_"'],
    [{ INTAKE_WEBHOOK_SECRETS: 'acme:whsec_c2hvcnQ=' }, 'INTAKE_WEBHOOK_SECRETS secret for source "acme" must be "whsec_" followed by 24 to 64'],
    [{ INTAKE_WEBHOOK_SECRETS: `acme:${secret(65)}` }, 'INTAKE_WEBHOOK_SECRETS secret for source "acme"'],
    [{ INTAKE_WEBHOOK_SECRETS: 'acme:whsec_not*base64*at*all*0123456789' }, 'INTAKE_WEBHOOK_SECRETS secret for source "acme"'],
    [{ INTAKE_RATE_LIMIT: '0' }, 'INTAKE_RATE_LIMIT must be between 1 and'],
    [{ INTAKE_RATE_LIMIT: 'lots' }, 'INTAKE_RATE_LIMIT must be a whole number'],
    [{ INTAKE_RATE_LIMIT_WINDOW_MS: '10' }, 'INTAKE_RATE_LIMIT_WINDOW_MS must be between 1000 and'],
    [{ ALLOW_HTTP_URLS: 'yes' }, 'ALLOW_HTTP_URLS must be one of true, false'],
    [{ INTAKE_BATCH_BODY_LIMIT_BYTES: '1000' }, 'INTAKE_BATCH_BODY_LIMIT_BYTES must be between 262144 and 67108864'],
    [{ INTAKE_BATCH_BODY_LIMIT_BYTES: '5MB' }, 'INTAKE_BATCH_BODY_LIMIT_BYTES must be a whole number'],
    [{ INTAKE_BODY_BUDGET_BYTES: '4194304' }, 'INTAKE_BODY_BUDGET_BYTES must be at least INTAKE_BATCH_BODY_LIMIT_BYTES (5242880)'],
    [{ INTAKE_BODY_BUDGET_BYTES: '1000' }, 'INTAKE_BODY_BUDGET_BYTES must be between 262144 and'],
    [{ INTAKE_TRUST_PROXY: 'true' }, 'INTAKE_TRUST_PROXY must be false or comma-separated proxy addresses, CIDRs or loopback/linklocal/uniquelocal; "true"'],
    [{ INTAKE_TRUST_PROXY: '1' }, '"1" is none of these'],
    [{ INTAKE_TRUST_PROXY: '10.0.0.0/33' }, '"10.0.0.0/33" is none of these'],
    [{ INTAKE_TRUST_PROXY: '10.0.0.1,proxy.local' }, '"proxy.local" is none of these'],
  ])('refuses %j, naming the variable', (env, message) => {
    expect(errorOf(() => readIntakeConfig({ ...base, ...env }))).toContain(message);
  });

  it('refuses a secret listed twice, and never prints a secret', () => {
    const s = secret();
    const message = errorOf(() => readIntakeConfig({ ...base, INTAKE_WEBHOOK_SECRETS: `acme:${s},acme:${s}` }));
    expect(message).toContain('listed twice');
    expect(message).not.toContain(s.slice(6));
  });
});

describe('the intake source registry', () => {
  const sources = (list: SourceDefinition[] = []) => ({ sources: list, file: list.length ? 'sources.yml' : null, hubspotApiUrl: '', pipedriveApiUrl: '', facebookGraphUrl: '', publicBaseUrl: null });
  const fileJson: SourceDefinition = {
    name: 'file-crm',
    type: 'json',
    declaredIn: 'SOURCES_FILE',
    credentials: { type: 'json', api_key: 'file-key-0123456789abcdef', webhook_secrets: [] },
  };

  it('holds INTAKE_API_KEYS entries as json sources, and a file json source\'s api_key as an intake key', () => {
    const registry = sourceRegistry(sources([fileJson]), readIntakeConfig(base));
    expect(registry.all().map(({ name, type, declaredIn }) => `${name}:${type}:${declaredIn}`)).toEqual([
      'file-crm:json:SOURCES_FILE',
      'acme:json:INTAKE_API_KEYS',
      'beta:json:INTAKE_API_KEYS',
    ]);
    expect(Object.fromEntries(registry.apiKeys())).toEqual({
      'file-key-0123456789abcdef': 'file-crm',
      'acme-key-0123456789abcdef': 'acme',
      'beta-key-0123456789abcdef': 'beta',
    });
  });

  it('does without INTAKE_API_KEYS when SOURCES_FILE is set, but needs one source in all, naming both variables', () => {
    const withFile = { OPS_USERNAME: 'ops', OPS_PASSWORD: 'ops-password', SOURCES_FILE: 'sources.yml' };
    expect(readIntakeConfig(withFile).apiKeys.size).toBe(0);
    expect(sourceRegistry(sources([fileJson]), readIntakeConfig(withFile)).all()).toHaveLength(1);
    expect(errorOf(() => sourceRegistry(sources(), readIntakeConfig(withFile)))).toMatch(/INTAKE_API_KEYS.*SOURCES_FILE/);
    expect(errorOf(() => readIntakeConfig({ OPS_USERNAME: 'ops', OPS_PASSWORD: 'ops-password' }))).toContain('INTAKE_API_KEYS is required');
  });
});
