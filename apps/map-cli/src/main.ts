import 'reflect-metadata';
import { ConfigError } from '@app/config';
import { runMap, UsageError } from './map-cli';

runMap(process.argv.slice(2), process.env).then(
  ({ code, output }) => {
    process.stdout.write(`${output}\n`);
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`${error instanceof ConfigError ? 'Configuration error: ' : ''}${error.message}\n`);
    } else {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    process.exitCode = 2;
  },
);
