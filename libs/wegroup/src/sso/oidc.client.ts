import * as oidc from 'openid-client';
import { SsoConfig } from '../wegroup.config';
import { GrantedTokens } from './connection.store';

export interface AuthorizationRequest {
  url: string;
  state: string;
  codeVerifier: string;
  nonce: string;
}

export interface WeGroupUserInfo {
  sub: string;
  uid?: string;
  bid?: string;
  did?: string;
  email?: string;
  username?: string;
  role?: string;
  [claim: string]: unknown;
}

/** The issuer rejected a refresh token: only a new sign-in helps. */
export class RefreshRejectedError extends Error {}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * WeGroup SSO through openid-client (certified): discovery, Authorization Code + PKCE,
 * userinfo and refresh. Nothing OAuth-specific is written by hand here.
 */
export class WeGroupOidcClient {
  private configuration?: Promise<oidc.Configuration>;

  constructor(private readonly sso: SsoConfig) {}

  private config(): Promise<oidc.Configuration> {
    if (!this.configuration) {
      const issuer = new URL(this.sso.issuer);
      // Plain http is allowed only for an issuer on this machine (tests, a local IdP).
      const insecure = issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname);
      this.configuration = oidc
        .discovery(
          issuer,
          this.sso.clientId,
          undefined,
          this.sso.tokenAuthMethod === 'client_secret_post' ? oidc.ClientSecretPost(this.sso.clientSecret) : oidc.ClientSecretBasic(this.sso.clientSecret),
          insecure ? { execute: [oidc.allowInsecureRequests] } : undefined,
        )
        .catch((error: unknown) => {
          this.configuration = undefined; // try discovery again next time
          throw error;
        });
    }
    return this.configuration;
  }

  async authorizationRequest(): Promise<AuthorizationRequest> {
    const config = await this.config();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.sso.redirectUri,
      scope: this.sso.scopes.join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, state, codeVerifier, nonce };
  }

  /** Exchanges the code (checking state, PKCE and nonce), then reads /userinfo. */
  async completeSignIn(
    callbackQuery: string,
    checks: { state: string; codeVerifier: string; nonce: string },
  ): Promise<{ tokens: GrantedTokens; userinfo: WeGroupUserInfo }> {
    const config = await this.config();
    const callbackUrl = new URL(this.sso.redirectUri);
    callbackUrl.search = callbackQuery;
    const response = await oidc.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: checks.codeVerifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      idTokenExpected: this.sso.scopes.includes('openid'),
    });
    const sub = response.claims()?.sub;
    const userinfo = (await oidc.fetchUserInfo(config, response.access_token, sub ?? oidc.skipSubjectCheck)) as WeGroupUserInfo;
    return { tokens: toTokens(response, this.sso.scopes), userinfo };
  }

  async refresh(refreshToken: string): Promise<GrantedTokens> {
    const config = await this.config();
    try {
      return toTokens(await oidc.refreshTokenGrant(config, refreshToken), []);
    } catch (error) {
      if (error instanceof oidc.ResponseBodyError && error.error === 'invalid_grant') {
        throw new RefreshRejectedError(`the issuer rejected the refresh token (invalid_grant${error.error_description ? `: ${error.error_description}` : ''})`);
      }
      throw error;
    }
  }
}

function toTokens(response: oidc.TokenEndpointResponse, requested: string[]): GrantedTokens {
  return {
    accessToken: response.access_token,
    refreshToken: response.refresh_token ?? null,
    expiresIn: typeof response.expires_in === 'number' ? response.expires_in : null,
    // RFC 6749: a response without `scope` means the requested scopes were granted.
    scopes: typeof response.scope === 'string' ? response.scope.split(' ').filter(Boolean) : requested,
  };
}
