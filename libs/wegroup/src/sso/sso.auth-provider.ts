import { Logger } from '@nestjs/common';
import type { RedisClient } from '@app/queue';
import { randomUUID } from 'node:crypto';
import { ReauthRequiredError, WeGroupAuthProvider, WeGroupCredentials } from '../auth/wegroup-auth';
import { WeGroupError } from '../wegroup.errors';
import { ConnectionSecrets, ConnectionView, effectiveScopes } from './connection';
import { ConnectionStore } from './connection.store';
import { RefreshRejectedError, WeGroupOidcClient } from './oidc.client';

/** A refresh holds the lock at most this long (the token endpoint call is bounded by it). */
const LOCK_MS = 15_000;
const LOCK_POLL_MS = 100;
const RELEASE_IF_OURS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface RefreshObserver {
  (outcome: 'refreshed' | 'rejected' | 'no_refresh_token' | 'error'): void;
}

type Connection = ConnectionView & ConnectionSecrets;

/**
 * Bearer credentials of the SSO connection for a distribution. Access tokens are refreshed
 * before they expire and once after a 401; a refresh is single-flight across every worker
 * process (a Redis lock), so a rotating refresh token is never spent twice.
 */
export class SsoAuthProvider implements WeGroupAuthProvider {
  private readonly logger = new Logger(SsoAuthProvider.name);

  constructor(
    private readonly store: ConnectionStore,
    private readonly oidc: WeGroupOidcClient,
    private readonly redis: RedisClient,
    private readonly onRefresh: RefreshObserver = () => undefined,
  ) {}

  async credentialsFor(distributionId: string): Promise<WeGroupCredentials> {
    let connection = await this.load(distributionId);
    if (expiresSoon(connection)) connection = await this.refresh(distributionId, connection.accessToken);
    return credentials(connection);
  }

  async renewAfterUnauthorized(distributionId: string, rejected: WeGroupCredentials): Promise<WeGroupCredentials | null> {
    const connection = await this.refresh(distributionId, rejected.credential, true);
    return connection.accessToken === rejected.credential ? null : credentials(connection);
  }

  async reportForbidden(distributionId: string, scope: string): Promise<void> {
    await this.store.markScopeDenied(distributionId, scope);
  }

  private async load(distributionId: string): Promise<Connection> {
    const connection = await this.store.secrets(distributionId);
    if (!connection) {
      throw new WeGroupError(
        `No SSO connection for distribution ${distributionId}: a broker of that distribution must sign in (GET /v1/connections/sso/start).`,
        'permanent',
      );
    }
    if (connection.status === 'needs_reauth' || !connection.accessToken) {
      throw new ReauthRequiredError(distributionId, connection.last_error ?? 'the connection needs a new sign-in');
    }
    return connection;
  }

  /**
   * Refreshes unless another process already did: whoever holds the lock refreshes, the
   * others wait for it and use the new token.
   */
  private async refresh(distributionId: string, staleAccessToken: string | null, force = false): Promise<Connection> {
    const lockKey = this.store.lockKey(distributionId);
    const owner = randomUUID();
    const deadline = Date.now() + LOCK_MS * 2;
    while (!(await this.redis.set(lockKey, owner, 'PX', LOCK_MS, 'NX'))) {
      if (Date.now() > deadline) throw new WeGroupError('Timed out waiting for another worker to refresh the SSO token', 'transient');
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
    try {
      const current = await this.load(distributionId);
      if (current.accessToken !== staleAccessToken && (force || !expiresSoon(current))) return current;
      if (!current.refreshToken) {
        const reason = 'the access token expired and there is no refresh token (the offline scope was not granted)';
        await this.store.markNeedsReauth(distributionId, reason);
        this.onRefresh('no_refresh_token');
        throw new ReauthRequiredError(distributionId, reason);
      }
      try {
        await this.store.updateTokens(distributionId, await this.oidc.refresh(current.refreshToken));
      } catch (error) {
        if (error instanceof RefreshRejectedError) {
          await this.store.markNeedsReauth(distributionId, error.message);
          this.onRefresh('rejected');
          throw new ReauthRequiredError(distributionId, error.message);
        }
        this.onRefresh('error');
        throw new WeGroupError(`Refreshing the SSO token failed (${(error as Error)?.name ?? 'error'})`, 'transient');
      }
      this.onRefresh('refreshed');
      this.logger.log(`Refreshed the SSO access token of distribution ${distributionId}`);
      return this.load(distributionId);
    } finally {
      await this.redis.eval(RELEASE_IF_OURS, 1, lockKey, owner);
    }
  }
}

/** Refresh when less than a quarter of the token's life (at most a minute) is left. */
function expiresSoon(connection: Connection): boolean {
  const lifetime = connection.accessExpiresAt - connection.accessIssuedAt;
  const margin = Math.min(60_000, lifetime / 4);
  return Date.now() >= connection.accessExpiresAt - margin;
}

function credentials(connection: Connection): WeGroupCredentials {
  return {
    scheme: 'bearer',
    credential: connection.accessToken!,
    scopes: effectiveScopes(connection),
    label: `the SSO connection of distribution ${connection.distribution_id}`,
  };
}
