import { createHash, randomBytes } from 'node:crypto';
import { keyPrefix, RedisClient } from '@app/queue';
import { withRedisTimeout } from '../../common/redis-timeout';
import { OpsRoleName, OpsUser } from '../ops-users';
import { OpsConsoleConfig } from './ops-console.config';

/** A signed-in console user, as the session holds it. */
export interface OpsSession {
  user: OpsUser;
  /** When the session began (ms since the epoch): it ends OPS_SESSION_MAX_HOURS later. */
  createdAt: number;
  /** The secret this session's CSRF tokens are made and checked with: a token is good for its session only. */
  csrfSecret: string;
}

interface StoredSession {
  name: string;
  role: OpsRoleName;
  created_at: number;
  csrf: string;
}

/**
 * The console's sessions, in Redis beside the queue (same hash tag, so a Cluster keeps them
 * with everything else): any intake instance serves any page. The cookie carries a random
 * 256-bit id; Redis only its SHA-256, so reading Redis (a backup, a MONITOR) gives no cookie
 * that works. Each use pushes the expiry OPS_SESSION_IDLE_MINUTES ahead; OPS_SESSION_MAX_HOURS
 * after sign-in it ends regardless.
 */
export class OpsSessions {
  private readonly prefix: string;

  constructor(
    private readonly redis: RedisClient,
    queuePrefix: string,
    private readonly config: OpsConsoleConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.prefix = `${keyPrefix(queuePrefix)}:ops:session:`;
  }

  /** A new session for the user (a new id at every sign-in: no fixation); returns the cookie's id. */
  async create(user: OpsUser): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    const stored: StoredSession = { name: user.name, role: user.role, created_at: this.now(), csrf: randomBytes(24).toString('base64url') };
    await withRedisTimeout(this.redis.set(this.key(id), JSON.stringify(stored), 'PX', this.config.idleMs));
    return id;
  }

  /** The session of this cookie value, its idle expiry renewed; null when there is none (unknown, idle too long, too old). */
  async touch(id: string | undefined): Promise<OpsSession | null> {
    if (!id || !SESSION_ID.test(id)) return null;
    const key = this.key(id);
    const raw = await withRedisTimeout(this.redis.getex(key, 'PX', this.config.idleMs));
    if (raw === null) return null;
    const stored = JSON.parse(raw) as StoredSession;
    if (this.now() - stored.created_at >= this.config.maxAgeMs) {
      await withRedisTimeout(this.redis.del(key));
      return null;
    }
    return { user: { name: stored.name, role: stored.role }, createdAt: stored.created_at, csrfSecret: stored.csrf };
  }

  /** Signs out: the id is good for nothing afterwards. */
  async destroy(id: string | undefined): Promise<void> {
    if (id && SESSION_ID.test(id)) await withRedisTimeout(this.redis.del(this.key(id)));
  }

  private key(id: string): string {
    return this.prefix + digest(id);
  }
}

/** 32 random bytes in base64url: anything else in the cookie is no session of ours (and never reaches Redis). */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}
