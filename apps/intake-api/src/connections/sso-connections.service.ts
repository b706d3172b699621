import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigType } from '@nestjs/config';
import { redisConfig, REDIS_CONNECTION, type RedisClient } from '@app/queue';
import { ssoConfig, ssoKeyring } from '@app/wegroup';
import { LeadRepository } from '@app/leads';
import { ConnectionStore, ConnectionView, WeGroupOidcClient } from '@app/wegroup';
import { ProblemException } from '../common/problem';
import { withRedisTimeout } from '../common/redis-timeout';
import { auditAction, OpsAudit } from '../ops/ops-audit';

/** Why a sign-in did not create a connection, in words for the person in the browser. */
export class SignInError extends Error {}

/**
 * SSO connections: the Authorization Code + PKCE sign-in, and the connections it creates.
 * Starting a sign-in, its completion and a disconnection are audited with the ops user's
 * name (the completion with the name of whoever started it: the browser comes back from
 * WeGroup without ops credentials).
 */
@Injectable()
export class SsoConnectionsService {
  private readonly logger = new Logger(SsoConnectionsService.name);
  private readonly store: ConnectionStore | null;
  private readonly oidc: WeGroupOidcClient | null;

  constructor(
    @Inject(ssoConfig.KEY) { client: sso }: ConfigType<typeof ssoConfig>,
    @Inject(redisConfig.KEY) { queuePrefix }: ConfigType<typeof redisConfig>,
    @Inject(REDIS_CONNECTION) redis: RedisClient,
    private readonly leads: LeadRepository,
    private readonly audit: OpsAudit,
  ) {
    this.store = sso ? new ConnectionStore(redis, queuePrefix, ssoKeyring(sso)) : null;
    this.oidc = sso ? new WeGroupOidcClient(sso) : null;
  }

  get enabled(): boolean {
    return this.store !== null;
  }

  private require(): { store: ConnectionStore; oidc: WeGroupOidcClient } {
    if (!this.store || !this.oidc) {
      throw new ProblemException(HttpStatus.NOT_FOUND, 'SSO is not configured: set WEGROUP_SSO_CLIENT_ID and the other WEGROUP_SSO_* variables.');
    }
    return { store: this.store, oidc: this.oidc };
  }

  /** Where to send the browser: WeGroup's authorization endpoint, with PKCE, state and nonce. */
  async start(by: string): Promise<string> {
    const { store, oidc } = this.require();
    let request;
    try {
      request = await oidc.authorizationRequest();
    } catch (error) {
      this.logger.warn(`OpenID discovery failed: ${(error as Error).message}`);
      throw new ProblemException(HttpStatus.BAD_GATEWAY, 'The WeGroup sign-in service (OpenID discovery) could not be reached. Try again later.');
    }
    await withRedisTimeout(store.savePendingSignIn(request.state, { codeVerifier: request.codeVerifier, nonce: request.nonce, startedBy: by }));
    await auditAction(this.audit, this.logger, { user: by, action: 'sso_connect_started' });
    return request.url;
  }

  /** The browser came back from WeGroup: check everything, then create or renew the connection. */
  async complete(query: Record<string, string | undefined>, rawQuery: string): Promise<ConnectionView> {
    const { store, oidc } = this.require();
    if (query.error) {
      throw new SignInError(
        `WeGroup did not grant access (${query.error}${query.error_description ? `: ${query.error_description}` : ''}). No connection was created.`,
      );
    }
    if (!query.state || !query.code) throw new SignInError('The sign-in answer lacks its code or state. Start again.');
    const pending = await store.takePendingSignIn(query.state);
    if (!pending) {
      throw new SignInError('This sign-in link is unknown, expired or was already used (state). Start the sign-in again.');
    }
    let result;
    try {
      result = await oidc.completeSignIn(rawQuery, { state: query.state, codeVerifier: pending.codeVerifier, nonce: pending.nonce });
    } catch (error) {
      const code = (error as { error?: string; code?: string }).error ?? (error as { code?: string }).code ?? (error as Error).name;
      this.logger.warn(`SSO code exchange failed (${code})`);
      throw new SignInError(`WeGroup refused to complete the sign-in (${code}). No connection was created. Start again.`);
    }
    const { userinfo, tokens } = result;
    if (!userinfo.did) throw new SignInError('WeGroup did not say which distribution this account belongs to (no did claim in /userinfo).');
    const connection = await store.saveSignIn(
      userinfo.did,
      userinfo.bid ?? null,
      { uid: userinfo.uid ?? null, email: userinfo.email ?? null, username: userinfo.username ?? null, role: userinfo.role ?? null },
      tokens,
    );
    this.logger.log(`SSO connection ${connection.id} saved for distribution ${connection.distribution_id}`);
    await auditAction(this.audit, this.logger, {
      user: pending.startedBy ?? '',
      action: 'sso_connected',
      detail: { connection_id: connection.id, distribution_id: connection.distribution_id },
    });
    await this.releaseWaitingLeads(connection.distribution_id);
    return connection;
  }

  /** Leads held for a new sign-in of this distribution go out now, not at their next check. */
  private async releaseWaitingLeads(distributionId: string): Promise<void> {
    const released = await this.leads.releaseHeld(distributionId);
    if (released) this.logger.log(`Released ${released} leads waiting for distribution ${distributionId}`);
  }

  async list(): Promise<ConnectionView[]> {
    return withRedisTimeout(this.require().store.list());
  }

  async get(id: string): Promise<ConnectionView> {
    const view = await withRedisTimeout(this.require().store.viewById(id));
    if (!view) throw new ProblemException(HttpStatus.NOT_FOUND, `No connection with id "${id.slice(0, 64)}".`);
    return view;
  }

  async delete(id: string, by: string): Promise<ConnectionView> {
    const view = await withRedisTimeout(this.require().store.delete(id));
    if (!view) throw new ProblemException(HttpStatus.NOT_FOUND, `No connection with id "${id.slice(0, 64)}".`);
    this.logger.log(`SSO connection ${id} deleted (distribution ${view.distribution_id})`);
    await auditAction(this.audit, this.logger, { user: by, action: 'sso_disconnected', detail: { connection_id: id, distribution_id: view.distribution_id } });
    return view;
  }

  /** Whether a lead for this distribution has a way to WeGroup. */
  async hasConnection(distributionId: string): Promise<boolean> {
    return this.store ? withRedisTimeout(this.store.exists(distributionId)) : false;
  }
}
