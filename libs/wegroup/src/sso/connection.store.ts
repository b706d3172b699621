import type { RedisClient } from '@app/queue';
import { randomUUID } from 'node:crypto';
import { keyPrefix } from '@app/queue';
import { ConnectionSecrets, ConnectionStatus, ConnectionUser, ConnectionView, featuresFor } from './connection';
import { Keyring } from '@app/config';

export interface GrantedTokens {
  accessToken: string;
  refreshToken: string | null;
  /** Seconds the access token lives, from the token response. */
  expiresIn: number | null;
  scopes: string[];
}

export interface PendingSignIn {
  codeVerifier: string;
  nonce: string;
  /** The ops user who started it (their name, for the audit log); absent in one saved by an older version. */
  startedBy?: string;
}

/** WeGroup does not always send expires_in; its documented lifetimes are 2 h (staging) and 24 h. */
const DEFAULT_ACCESS_LIFETIME_S = 2 * 3600;
const SIGN_IN_TTL_S = 600;

/**
 * SSO connections in Redis, one hash per distribution, tokens sealed with AES-256-GCM.
 * Every key sits under the `{prefix}` hash tag, like the queue's.
 */
export class ConnectionStore {
  private readonly base: string;

  constructor(
    private readonly redis: RedisClient,
    queuePrefix: string,
    private readonly cipher: Keyring,
  ) {
    this.base = `${keyPrefix(queuePrefix)}:sso`;
  }

  private connectionKey(distributionId: string): string {
    return `${this.base}:connection:${distributionId}`;
  }

  private get indexKey(): string {
    return `${this.base}:connections`;
  }

  lockKey(distributionId: string): string {
    return `${this.base}:refresh-lock:${distributionId}`;
  }

  /** Verifier and nonce of a sign-in in progress, kept server-side, single use. */
  async savePendingSignIn(state: string, pending: PendingSignIn): Promise<void> {
    await this.redis.set(`${this.base}:sign-in:${state}`, this.cipher.seal(JSON.stringify(pending)), 'EX', SIGN_IN_TTL_S);
  }

  async takePendingSignIn(state: string): Promise<PendingSignIn | null> {
    const sealed = await this.redis.getdel(`${this.base}:sign-in:${state}`);
    return sealed ? (JSON.parse(this.cipher.open(sealed)) as PendingSignIn) : null;
  }

  async exists(distributionId: string): Promise<boolean> {
    return (await this.redis.exists(this.connectionKey(distributionId))) === 1;
  }

  /** Creates the connection for this distribution, or renews it on a new sign-in. */
  async saveSignIn(distributionId: string, brokerId: string | null, user: ConnectionUser, tokens: GrantedTokens): Promise<ConnectionView> {
    const key = this.connectionKey(distributionId);
    const now = Date.now();
    const [existingId, createdAt] = await this.redis.hmget(key, 'id', 'created_at');
    const id = existingId ?? randomUUID();
    await this.redis
      .multi()
      .hset(key, {
        id,
        distribution_id: distributionId,
        broker_id: brokerId ?? '',
        user: JSON.stringify(user),
        scopes: JSON.stringify(tokens.scopes),
        denied_scopes: '[]',
        status: 'active' satisfies ConnectionStatus,
        last_error: '',
        created_at: createdAt ?? String(now),
        updated_at: String(now),
        ...this.sealedTokens(tokens, now),
      })
      .hset(this.indexKey, id, distributionId)
      .exec();
    return (await this.view(distributionId))!;
  }

  async updateTokens(distributionId: string, tokens: GrantedTokens): Promise<void> {
    const now = Date.now();
    const fields: Record<string, string> = { ...this.sealedTokens(tokens, now), updated_at: String(now), status: 'active', last_error: '' };
    // A refresh response without a new refresh token keeps the old one (no rotation).
    if (!tokens.refreshToken) delete fields.refresh_token;
    if (tokens.scopes.length) fields.scopes = JSON.stringify(tokens.scopes);
    await this.redis.hset(this.connectionKey(distributionId), fields);
  }

  async markNeedsReauth(distributionId: string, reason: string): Promise<void> {
    await this.redis.hset(this.connectionKey(distributionId), { status: 'needs_reauth', last_error: reason, updated_at: String(Date.now()) });
  }

  /** WeGroup refused a scope the token response claimed: remember it on the connection. */
  async markScopeDenied(distributionId: string, scope: string): Promise<void> {
    const key = this.connectionKey(distributionId);
    const denied = new Set(JSON.parse((await this.redis.hget(key, 'denied_scopes')) || '[]') as string[]);
    denied.add(scope);
    await this.redis.hset(key, { denied_scopes: JSON.stringify([...denied]), updated_at: String(Date.now()) });
  }

  async view(distributionId: string): Promise<ConnectionView | null> {
    const raw = await this.redis.hgetall(this.connectionKey(distributionId));
    return raw.id ? toView(raw) : null;
  }

  async viewById(id: string): Promise<ConnectionView | null> {
    const distributionId = await this.redis.hget(this.indexKey, id);
    return distributionId ? this.view(distributionId) : null;
  }

  async list(): Promise<ConnectionView[]> {
    const distributionIds = Object.values(await this.redis.hgetall(this.indexKey));
    const views = await Promise.all(distributionIds.map((id) => this.view(id)));
    return views.filter((v): v is ConnectionView => v !== null).sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  async delete(id: string): Promise<ConnectionView | null> {
    const view = await this.viewById(id);
    if (!view) return null;
    await this.redis.multi().del(this.connectionKey(view.distribution_id)).hdel(this.indexKey, id).exec();
    return view;
  }

  async secrets(distributionId: string): Promise<(ConnectionView & ConnectionSecrets) | null> {
    const raw = await this.redis.hgetall(this.connectionKey(distributionId));
    if (!raw.id) return null;
    return {
      ...toView(raw),
      accessToken: raw.access_token ? this.cipher.open(raw.access_token) : null,
      refreshToken: raw.refresh_token ? this.cipher.open(raw.refresh_token) : null,
      accessIssuedAt: Number(raw.access_issued_at || 0),
      accessExpiresAt: Number(raw.access_expires_at || 0),
    };
  }

  private sealedTokens(tokens: GrantedTokens, now: number): Record<string, string> {
    return {
      access_token: this.cipher.seal(tokens.accessToken),
      refresh_token: tokens.refreshToken ? this.cipher.seal(tokens.refreshToken) : '',
      access_issued_at: String(now),
      access_expires_at: String(now + (tokens.expiresIn ?? DEFAULT_ACCESS_LIFETIME_S) * 1000),
    };
  }
}

function toView(raw: Record<string, string>): ConnectionView {
  const scopes = JSON.parse(raw.scopes || '[]') as string[];
  const denied = JSON.parse(raw.denied_scopes || '[]') as string[];
  const iso = (ms: string | undefined) => (ms ? new Date(Number(ms)).toISOString() : null);
  return {
    id: raw.id,
    distribution_id: raw.distribution_id,
    broker_id: raw.broker_id || null,
    user: JSON.parse(raw.user || '{}') as ConnectionUser,
    scopes,
    denied_scopes: denied,
    features: featuresFor({ scopes, denied_scopes: denied }),
    access_expires_at: iso(raw.access_expires_at),
    has_refresh_token: Boolean(raw.refresh_token),
    status: (raw.status as ConnectionStatus) || 'active',
    last_error: raw.last_error || null,
    created_at: iso(raw.created_at)!,
    updated_at: iso(raw.updated_at)!,
  };
}
