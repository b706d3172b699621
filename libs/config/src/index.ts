export * from './env';
export * from './config-namespace';
export * from './boot';
export * from './keyring';
export * from './demo-secrets';
