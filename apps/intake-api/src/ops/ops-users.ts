import type { FastifyRequest } from 'fastify';
import { ConfigError, DEMO_SECRETS, Env, optionalString, refuseDemoSecret } from '@app/config';
import { OpsPasswordHash, OpsPasswordHashError, parseOpsPasswordHash } from './ops-password';

/**
 * `viewer`: reads (delivery state, metrics, sources, connections, the dashboard, a lead
 * without the words WeGroup or a platform answered, which may echo the prospect).
 * `operator`: all of that with those words, and every action (retry, bulk retry, erase,
 * mapping preview, SSO connect and disconnect).
 */
export const OPS_ROLES = ['viewer', 'operator'] as const;
export type OpsRoleName = (typeof OPS_ROLES)[number];

/** Who an authenticated ops request is (`request.opsUser`). */
export interface OpsUser {
  name: string;
  role: OpsRoleName;
}

export interface OpsRequest extends FastifyRequest {
  opsUser?: OpsUser;
}

/**
 * An ops user as configured: OPS_USERS entries carry an scrypt hash; OPS_USERNAME /
 * OPS_PASSWORD a password in clear, which the authenticator hashes once at boot.
 */
export type OpsUserConfig = OpsUser & ({ hash: OpsPasswordHash } | { password: string });

/** What a viewer reads where an operator reads words that may hold personal data. */
export const HIDDEN_FOR_VIEWER = '(hidden: operator role needed)';

/** Whether the ops user may see personal data; a request that is no ops user's (a source's key) is judged elsewhere. */
export function seesPersonalData(user: OpsUser | undefined): boolean {
  return user?.role === 'operator';
}

const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
/** Bounds on the work OPS_USERS can ask at boot and on every sign-in. */
export const MAX_OPS_USERS = 100;

/**
 * OPS_USERS (comma-separated `name:scrypt-hash:role`) and the one operator of OPS_USERNAME /
 * OPS_PASSWORD, together. A malformed entry stops the boot naming OPS_USERS and the user (or
 * the entry's position when the name itself is wrong), never the hash.
 */
export function readOpsUsers(env: Env): OpsUserConfig[] {
  const users: OpsUserConfig[] = [];
  const entries = (optionalString(env, 'OPS_USERS') ?? '').split(',').map((entry) => entry.trim());
  if (entries.length > MAX_OPS_USERS) throw new ConfigError('OPS_USERS', `lists ${entries.length} users; at most ${MAX_OPS_USERS}`);
  entries.forEach((entry, index) => {
    if (entry === '') {
      if (entries.length > 1) throw new ConfigError('OPS_USERS', `entry ${index + 1} is empty (entries are comma-separated name:scrypt-hash:role)`);
      return;
    }
    const parts = entry.split(':');
    const [name, hash, role] = parts;
    const who = NAME.test(name) ? `user "${name}"` : `entry ${index + 1}`;
    if (!NAME.test(name)) {
      throw new ConfigError('OPS_USERS', `${who} has no valid user name (1 to 64 letters, digits, "_", ".", "@" or "-"; entries are name:scrypt-hash:role)`);
    }
    if (parts.length !== 3) throw new ConfigError('OPS_USERS', `${who} must be name:scrypt-hash:role (3 parts separated by ":", got ${parts.length})`);
    if (!(OPS_ROLES as readonly string[]).includes(role)) {
      // Not quoted: with the parts in the wrong order, this would be the hash.
      throw new ConfigError('OPS_USERS', `${who} has no role ${OPS_ROLES.join(' or ')} as its third part (name:scrypt-hash:role)`);
    }
    try {
      users.push({ name, role: role as OpsRoleName, hash: parseOpsPasswordHash(hash) });
    } catch (error) {
      if (!(error instanceof OpsPasswordHashError)) throw error;
      throw new ConfigError('OPS_USERS', `${who}: the password hash ${error.message}`);
    }
  });
  const legacy = readLegacyOperator(env);
  if (legacy) users.push(legacy);
  const seen = new Set<string>();
  for (const user of users) {
    if (seen.has(user.name)) {
      throw new ConfigError('OPS_USERS', `names user "${user.name}" twice${user === legacy ? ' (once as OPS_USERNAME)' : ''}: each ops user once`);
    }
    seen.add(user.name);
  }
  if (users.length === 0) {
    throw new ConfigError(
      'OPS_USERS',
      'and OPS_USERNAME / OPS_PASSWORD are all unset: declare at least one ops user (OPS_USERS=name:scrypt-hash:role, a hash from npm run ops:hash-password; or OPS_USERNAME and OPS_PASSWORD, an operator)',
    );
  }
  return users;
}

/** OPS_USERNAME / OPS_PASSWORD: one operator, as before OPS_USERS; both or neither. */
function readLegacyOperator(env: Env): OpsUserConfig | undefined {
  const name = optionalString(env, 'OPS_USERNAME');
  const password = optionalString(env, 'OPS_PASSWORD');
  if (name === undefined && password === undefined) return undefined;
  if (name === undefined) throw new ConfigError('OPS_USERNAME', 'is required with OPS_PASSWORD (the two make one operator)');
  if (password === undefined) throw new ConfigError('OPS_PASSWORD', 'is required with OPS_USERNAME (the two make one operator)');
  if (password.length < 8) throw new ConfigError('OPS_PASSWORD', 'must be at least 8 characters');
  refuseDemoSecret(env, 'OPS_PASSWORD', password === DEMO_SECRETS.OPS_PASSWORD);
  return { name, role: 'operator', password };
}
