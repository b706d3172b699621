import { ConfigError } from '@app/config';
import { readOpsConsoleConfig } from './ops-console.config';

describe('ops console configuration', () => {
  it('defaults to a 30-minute idle timeout and a 12-hour lifetime', () => {
    expect(readOpsConsoleConfig({})).toEqual({ idleMs: 30 * 60_000, maxAgeMs: 12 * 3_600_000 });
    expect(readOpsConsoleConfig({ OPS_SESSION_IDLE_MINUTES: '5', OPS_SESSION_MAX_HOURS: '1' })).toEqual({ idleMs: 5 * 60_000, maxAgeMs: 3_600_000 });
  });

  it.each([
    [{ OPS_SESSION_IDLE_MINUTES: 'thirty' }, 'OPS_SESSION_IDLE_MINUTES'],
    [{ OPS_SESSION_IDLE_MINUTES: '0' }, 'OPS_SESSION_IDLE_MINUTES'],
    [{ OPS_SESSION_IDLE_MINUTES: '100000' }, 'OPS_SESSION_IDLE_MINUTES'],
    [{ OPS_SESSION_MAX_HOURS: '-1' }, 'OPS_SESSION_MAX_HOURS'],
  ])('stops the boot naming the variable for %j', (env, name) => {
    expect(() => readOpsConsoleConfig(env)).toThrow(ConfigError);
    expect(() => readOpsConsoleConfig(env)).toThrow(name);
  });
});
