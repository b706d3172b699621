export * from './scopes';
export * from './hosts';
export * from './wegroup.errors';
export * from './wegroup.client';
export * from './wegroup-http.module';
export * from './auth/wegroup-auth';
export * from './auth/api-token.auth-provider';
