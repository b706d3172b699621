export type AuthScheme = 'apikey' | 'bearer';

/** What a delivery needs to authenticate one request. */
export interface WeGroupCredentials {
  scheme: AuthScheme;
  credential: string;
  /** Scopes these credentials carry, checked before WeGroup is called. */
  scopes: readonly string[];
  /** Names the credentials in messages without revealing them. */
  label: string;
}

/** One way of authenticating toward WeGroup: the API token, or SSO connections beside it. */
export interface WeGroupAuthProvider {
  credentialsFor(distributionId: string): Promise<WeGroupCredentials>;
  /** WeGroup answered 401 to these credentials: renew them once if possible (SSO refresh). */
  renewAfterUnauthorized?(distributionId: string, rejected: WeGroupCredentials): Promise<WeGroupCredentials | null>;
  /** WeGroup answered 403 although the credentials carry `scope`. */
  reportForbidden?(distributionId: string, scope: string): Promise<void>;
}

/**
 * The connection behind a lead needs the broker to sign in again. The lead waits (it is
 * not failed) and goes out once the connection is renewed.
 */
export class ReauthRequiredError extends Error {
  constructor(
    readonly distributionId: string,
    reason: string,
  ) {
    super(`Waiting for a broker of distribution ${distributionId} to sign in to WeGroup again: ${reason}`);
    this.name = 'ReauthRequiredError';
  }
}

export const WEGROUP_AUTH_PROVIDER = Symbol('WEGROUP_AUTH_PROVIDER');

export function authorizationHeader(credentials: WeGroupCredentials): string {
  return `${credentials.scheme} ${credentials.credential}`;
}
