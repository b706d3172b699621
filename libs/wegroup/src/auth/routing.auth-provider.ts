import { WeGroupAuthProvider, WeGroupCredentials } from './wegroup-auth';

/**
 * Picks the credentials for a lead's distribution: the API token for the distribution it
 * was issued for, an SSO connection for any other. Without SSO the token serves all.
 */
export class RoutingAuthProvider implements WeGroupAuthProvider {
  constructor(
    private readonly apiToken: { distributionId: string; provider: WeGroupAuthProvider } | null,
    private readonly sso: WeGroupAuthProvider | null,
  ) {}

  private route(distributionId: string): WeGroupAuthProvider {
    if (this.apiToken && (!this.sso || distributionId === this.apiToken.distributionId)) return this.apiToken.provider;
    return this.sso!;
  }

  credentialsFor(distributionId: string): Promise<WeGroupCredentials> {
    return this.route(distributionId).credentialsFor(distributionId);
  }

  async renewAfterUnauthorized(distributionId: string, rejected: WeGroupCredentials): Promise<WeGroupCredentials | null> {
    return (await this.route(distributionId).renewAfterUnauthorized?.(distributionId, rejected)) ?? null;
  }

  async reportForbidden(distributionId: string, scope: string): Promise<void> {
    await this.route(distributionId).reportForbidden?.(distributionId, scope);
  }
}
