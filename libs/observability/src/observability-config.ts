import { Env, oneOf } from '@app/config';
import { LOG_LEVELS, LogLevelName } from './logging';

/** LOG_LEVEL: pino level of every app (fatal, error, warn, info, debug, trace, silent). */
export function readLogLevel(env: Env): LogLevelName {
  return oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info');
}
