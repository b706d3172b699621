export * from './env';
export * from './app-config';
export * from './boot';
export * from './keyring';
export * from './demo-secrets';
