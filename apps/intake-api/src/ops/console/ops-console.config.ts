import { Env, integer } from '@app/config';
import { configNamespace } from '@app/config/config-namespace';

/** The ops console's sign-in sessions. */
export interface OpsConsoleConfig {
  /**
   * OPS_SESSION_IDLE_MINUTES (default 30): a session nobody used for this long is gone, and
   * the next page asks to sign in again. Every page, search and action counts as use.
   */
  idleMs: number;
  /**
   * OPS_SESSION_MAX_HOURS (default 12): a session ends this long after sign-in however busy,
   * so a cookie copied once does not stay good for as long as someone keeps using it.
   */
  maxAgeMs: number;
}

export function readOpsConsoleConfig(env: Env): OpsConsoleConfig {
  return {
    idleMs: integer(env, 'OPS_SESSION_IDLE_MINUTES', 30, 1, 24 * 60) * 60_000,
    maxAgeMs: integer(env, 'OPS_SESSION_MAX_HOURS', 12, 1, 7 * 24) * 3_600_000,
  };
}

/** OPS_SESSION_*: the console's sessions. */
export const opsConsoleConfig = configNamespace('opsConsole', readOpsConsoleConfig);
