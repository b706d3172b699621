import { Env, integer, oneOf } from '@app/config';
import { LOG_LEVELS, LogLevelName } from './logging';

/** LOG_LEVEL: pino level of every app (fatal, error, warn, info, debug, trace, silent). */
export function readLogLevel(env: Env): LogLevelName {
  return oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info');
}

/** Port of the worker's metrics and health endpoints (the intake serves /metrics on its own port). */
export const DEFAULT_METRICS_PORT = 9464;

export interface WorkerObservabilityConfig {
  logLevel: LogLevelName;
  metricsPort: number;
}

export function readWorkerObservabilityConfig(env: Env): WorkerObservabilityConfig {
  return { logLevel: readLogLevel(env), metricsPort: integer(env, 'METRICS_PORT', DEFAULT_METRICS_PORT, 1, 65535) };
}
