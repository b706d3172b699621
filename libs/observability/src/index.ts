export * from './redaction';
export * from './request-id';
export * from './logging';
export * from './metrics';
export * from './observability-config';
