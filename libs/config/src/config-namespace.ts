import { ValueProvider } from '@nestjs/common';
import { ConfigFactoryKeyHost, registerAs } from '@nestjs/config';
import { Env } from './env';

/**
 * A typed config namespace (`registerAs`) read from an env record: process.env in the apps,
 * a record of its own in a test that builds an app. Declared beside the code that uses it;
 * inject it with `@Inject(x.KEY) config: ConfigType<typeof x>`.
 */
export function configNamespace<T extends object>(token: string, read: (env: Env) => T) {
  return registerAs(token, (env: Env = process.env): T => read(env));
}

/**
 * Provides a namespace's value under its token. The apps read every namespace before Nest
 * starts (a bad variable stops boot with one line, see loadConfigOrExit), then hand the
 * values to their module.
 */
export function provideConfig<T>(namespace: ConfigFactoryKeyHost<T>, value: T): ValueProvider<T> {
  return { provide: namespace.KEY, useValue: value };
}
