export const INTAKE_API_KEYS = Symbol('INTAKE_API_KEYS');
/** The ops users (OpsUserConfig[]): OPS_USERS and OPS_USERNAME / OPS_PASSWORD. */
export const OPS_CREDENTIALS = Symbol('OPS_CREDENTIALS');
export const BREAKER_STATE = Symbol('BREAKER_STATE');
export const INTAKE_WEBHOOK_SECRETS = Symbol('INTAKE_WEBHOOK_SECRETS');
