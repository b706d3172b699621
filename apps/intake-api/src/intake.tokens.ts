export const INTAKE_API_KEYS = Symbol('INTAKE_API_KEYS');
export const LEAD_QUEUE = Symbol('LEAD_QUEUE');
export const INTAKE_REDIS = Symbol('INTAKE_REDIS');
export const OPS_CREDENTIALS = Symbol('OPS_CREDENTIALS');
export const BREAKER_STATE = Symbol('BREAKER_STATE');
export const INTAKE_WEBHOOK_SECRETS = Symbol('INTAKE_WEBHOOK_SECRETS');
/** The ReplicaAck on INTAKE_REDIS when REDIS_WAIT_REPLICAS > 0, else null. */
export const REPLICA_ACK = Symbol('REPLICA_ACK');
