import { createHmac, randomBytes } from 'node:crypto';
import { hashOpsPasswordSync, OpsPasswordHash, verifyOpsPassword } from './ops-password';
import { OpsUser, OpsUserConfig } from './ops-users';

/** How long a checked name and password pass without scrypt again, and how many such passes are kept. */
export const OPS_SIGN_IN_MEMO_MS = 60_000;
export const OPS_SIGN_IN_MEMO_SIZE = 64;

/**
 * The ops users and their password check. Every check runs scrypt, for a name that exists or
 * not (against a throwaway hash), and OPS_PASSWORD is hashed the same way at boot, so timing
 * tells neither which names exist nor which user came from which variable.
 *
 * Basic auth sends the password with every request (the dashboard polls, and loads a dozen
 * assets at once), and scrypt is made to be slow: a name and password that passed are let
 * through for OPS_SIGN_IN_MEMO_MS without scrypt again. They are kept only as an HMAC under a
 * key of this process, a few dozen at most; a wrong password is never kept, so guessing stays
 * at scrypt's pace.
 */
export class OpsUserDirectory {
  private readonly users = new Map<string, { user: OpsUser; hash: OpsPasswordHash }>();
  private readonly nobody: OpsPasswordHash;
  private readonly memoKey = randomBytes(32);
  private readonly memo = new Map<string, { user: OpsUser; until: number }>();

  constructor(
    users: OpsUserConfig[],
    private readonly now: () => number = Date.now,
  ) {
    for (const config of users) {
      const hash = 'hash' in config ? config.hash : hashOpsPasswordSync(config.password);
      this.users.set(config.name, { user: { name: config.name, role: config.role }, hash });
    }
    this.nobody = hashOpsPasswordSync(randomBytes(32).toString('base64'));
  }

  /**
   * The user of this name as configured now, or null once the name is no longer configured.
   * A console session holds the name it signed in with: it is checked against this on every
   * request, so taking a user out of OPS_USERS (or changing the role) takes effect at the next
   * boot for sessions already open, not only for new sign-ins.
   */
  current(name: string): OpsUser | null {
    return this.users.get(name)?.user ?? null;
  }

  /** The user these credentials are, or null. */
  async check(name: string, password: string): Promise<OpsUser | null> {
    const memoKey = createHmac('sha256', this.memoKey).update(name).update('\0').update(password).digest('base64');
    const memo = this.memo.get(memoKey);
    if (memo && memo.until > this.now()) return memo.user;
    if (memo) this.memo.delete(memoKey);
    const known = this.users.get(name);
    const matches = await verifyOpsPassword(known?.hash ?? this.nobody, password);
    if (!known || !matches) return null;
    if (this.memo.size >= OPS_SIGN_IN_MEMO_SIZE) this.memo.delete(this.memo.keys().next().value as string);
    this.memo.set(memoKey, { user: known.user, until: this.now() + OPS_SIGN_IN_MEMO_MS });
    return known.user;
  }
}
