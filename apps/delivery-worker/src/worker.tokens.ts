export const WORKER_REDIS = Symbol('WORKER_REDIS');
export const WORKER_QUEUE = Symbol('WORKER_QUEUE');
export const WORKER_OBSERVABILITY = Symbol('WORKER_OBSERVABILITY');
