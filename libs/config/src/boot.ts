import { ConfigError, Env } from './env';

/**
 * Reads the configuration before Nest starts. A bad variable ends the process with exactly
 * one line on stderr that names it (no stack trace to dig through).
 */
export function loadConfigOrExit<T>(read: (env: Env) => T, env: Env = process.env): T {
  try {
    return read(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
