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

/** One way of authenticating toward WeGroup (API token now; SSO connections beside it). */
export interface WeGroupAuthProvider {
  credentialsFor(distributionId: string): Promise<WeGroupCredentials>;
}

export const WEGROUP_AUTH_PROVIDER = Symbol('WEGROUP_AUTH_PROVIDER');

export function authorizationHeader(credentials: WeGroupCredentials): string {
  return `${credentials.scheme} ${credentials.credential}`;
}
