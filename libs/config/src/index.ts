export * from './env';
export * from './boot';
export * from './keyring';
export * from './demo-secrets';
