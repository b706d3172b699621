import * as DEMO from './published-demo-secrets.json';
import { ConfigError, Env, oneOf } from './env';

/**
 * WEGROUP_ENV's values (@app/wegroup keys its hosts by them). Declared here because the
 * demo values are accepted in `sandbox` only, and every app checks that at boot.
 */
export const WEGROUP_ENVIRONMENTS = ['sandbox', 'staging', 'production'] as const;
export type WeGroupEnvironment = (typeof WEGROUP_ENVIRONMENTS)[number];

/**
 * Every secret value this repository publishes (compose and `npm start` defaults,
 * .env.example, the README), by the variable that carries it. scripts/start-stack.js reads
 * the same JSON, so a demo value is written down once in code.
 */
export const DEMO_SECRETS: Readonly<Record<DemoSecretVariable, string>> = DEMO.secrets;
export type DemoSecretVariable = keyof typeof DEMO.secrets;

/** The source name the demo API key is listed under. */
export const DEMO_INTAKE_SOURCE = DEMO.intakeSource;

const GUIDANCE: Record<DemoSecretVariable, string> = {
  INTAKE_API_KEYS: 'give each CRM a random key of its own (e.g. openssl rand -hex 24)',
  OPS_PASSWORD: 'choose your own password',
  DATA_ENCRYPTION_KEY: 'generate your own: key-id:$(openssl rand -base64 32)',
  WEGROUP_API_TOKEN: 'set the API token WeGroup issued you',
};

/** The demo values are for the local sandbox only; anything else talks to real WeGroup with real leads. */
export function isSandbox(env: Env): boolean {
  return oneOf(env, 'WEGROUP_ENV', WEGROUP_ENVIRONMENTS, 'sandbox') === 'sandbox';
}

/**
 * Stops boot when `isDemo` holds outside sandbox. The message names the variable and never
 * quotes the value (published or not, it is a secret slot).
 */
export function refuseDemoSecret(env: Env, variable: DemoSecretVariable, isDemo: boolean, which = ''): void {
  if (!isDemo || isSandbox(env)) return;
  const what = which ? ` (${which})` : '';
  throw new ConfigError(
    variable,
    `holds a published demo value${what}, accepted only with WEGROUP_ENV=sandbox: ${GUIDANCE[variable]}`,
  );
}

/** The demo data key's 32 bytes: a key is the demo one whatever id it is given. */
export function isDemoDataKey(key: Buffer): boolean {
  const demo = DEMO_SECRETS.DATA_ENCRYPTION_KEY;
  return key.equals(Buffer.from(demo.slice(demo.indexOf(':') + 1), 'base64'));
}
