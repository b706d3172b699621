import { randomBytes } from 'node:crypto';
import { readWorkerAppConfig } from './worker.config';

const base = { DATA_ENCRYPTION_KEY: `test:${randomBytes(32).toString('base64')}` };

describe('the worker config: native sources', () => {
  it('reads the sources: none without SOURCES_FILE', () => {
    expect(readWorkerAppConfig(base).sources).toMatchObject({ sources: [], file: null });
  });

  it('reads ALLOW_HTTP_URLS as the intake does: mapped leads obey the same URL rule as posted ones', () => {
    expect(readWorkerAppConfig(base).delivery.allowHttpUrls).toBe(false);
    expect(readWorkerAppConfig({ ...base, ALLOW_HTTP_URLS: 'true' }).delivery.allowHttpUrls).toBe(true);
    expect(() => readWorkerAppConfig({ ...base, ALLOW_HTTP_URLS: 'yes' })).toThrow('ALLOW_HTTP_URLS must be one of true, false, got "yes"');
  });
});
