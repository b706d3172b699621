import { ConfigError } from '../env';

/** For specs: the ConfigError `read` throws (anything else it throws is rethrown; none is an error). */
export function configErrorOf(read: () => unknown): ConfigError {
  try {
    read();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}
