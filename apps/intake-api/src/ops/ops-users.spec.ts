import { ConfigError, DEMO_SECRETS, Env } from '@app/config';
import { hashOpsPasswordSync, formatOpsPasswordHash } from './ops-password';
import { readOpsUsers } from './ops-users';
import { OpsUserDirectory, OPS_SIGN_IN_MEMO_MS } from './ops-user-directory';
import { leadViewForViewer } from './lead-view-masking';
import type { LeadStatusDto } from '@app/leads';

const GRACE = formatOpsPasswordHash(hashOpsPasswordSync('grace-password'));
const ALAN = formatOpsPasswordHash(hashOpsPasswordSync('alan-password'));

function errorOf(env: Env): ConfigError {
  try {
    readOpsUsers(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('OPS_USERS and OPS_USERNAME / OPS_PASSWORD', () => {
  it('reads name:hash:role entries, and the legacy pair as one more operator', () => {
    const users = readOpsUsers({ OPS_USERS: ` grace:${GRACE}:viewer , alan:${ALAN}:operator`, OPS_USERNAME: 'ops', OPS_PASSWORD: 'ops-password' });
    expect(users.map(({ name, role }) => ({ name, role }))).toEqual([
      { name: 'grace', role: 'viewer' },
      { name: 'alan', role: 'operator' },
      { name: 'ops', role: 'operator' },
    ]);
    expect(users[0]).toHaveProperty('hash.N', 16384);
    expect(users[2]).toEqual({ name: 'ops', role: 'operator', password: 'ops-password' });
  });

  it('takes either source alone', () => {
    expect(readOpsUsers({ OPS_USERS: `grace:${GRACE}:viewer` })).toHaveLength(1);
    expect(readOpsUsers({ OPS_USERNAME: 'ops', OPS_PASSWORD: 'ops-password' })).toHaveLength(1);
  });

  it.each([
    ['no user at all', {}, /^OPS_USERS and OPS_USERNAME \/ OPS_PASSWORD are all unset: declare at least one ops user/],
    ['only blanks', { OPS_USERS: ' ', OPS_USERNAME: '', OPS_PASSWORD: '' }, /^OPS_USERS and OPS_USERNAME/],
    ['OPS_USERNAME without OPS_PASSWORD', { OPS_USERNAME: 'ops' }, /^OPS_PASSWORD is required with OPS_USERNAME/],
    ['OPS_PASSWORD without OPS_USERNAME', { OPS_PASSWORD: 'ops-password' }, /^OPS_USERNAME is required with OPS_PASSWORD/],
    ['a short OPS_PASSWORD', { OPS_USERNAME: 'ops', OPS_PASSWORD: 'short' }, /^OPS_PASSWORD must be at least 8 characters/],
    ['a malformed hash', { OPS_USERS: `grace:${GRACE.slice(0, -3)}:viewer` }, /^OPS_USERS user "grace": the password hash/],
    ['a password instead of a hash', { OPS_USERS: 'grace:grace-password:viewer' }, /^OPS_USERS user "grace": the password hash is not an scrypt hash/],
    ['an unknown role', { OPS_USERS: `grace:${GRACE}:admin` }, /^OPS_USERS user "grace" has no role viewer or operator as its third part/],
    ['role and hash swapped', { OPS_USERS: `grace:viewer:${GRACE}` }, /^OPS_USERS user "grace"/],
    ['a missing role', { OPS_USERS: `grace:${GRACE}` }, /^OPS_USERS user "grace" must be name:scrypt-hash:role \(3 parts separated by ":", got 2\)/],
    ['an invalid name', { OPS_USERS: `gr ace:${GRACE}:viewer` }, /^OPS_USERS entry 1 has no valid user name/],
    ['an empty entry', { OPS_USERS: `grace:${GRACE}:viewer,,alan:${ALAN}:operator` }, /^OPS_USERS entry 2 is empty/],
    ['a name twice', { OPS_USERS: `grace:${GRACE}:viewer,grace:${ALAN}:operator` }, /^OPS_USERS names user "grace" twice: each ops user once/],
    ['a name in both sources', { OPS_USERS: `ops:${GRACE}:viewer`, OPS_USERNAME: 'ops', OPS_PASSWORD: 'ops-password' }, /^OPS_USERS names user "ops" twice \(once as OPS_USERNAME\)/],
    ['too many users', { OPS_USERS: Array.from({ length: 101 }, (_, i) => `u${i}:${GRACE}:viewer`).join(',') }, /^OPS_USERS lists 101 users; at most 100/],
  ])('stops the boot on %s with one line naming the variable and never the hash', (_case, env: Env, message) => {
    const error = errorOf(env);
    expect(error.message).toMatch(message);
    expect(error.message.split('\n')).toHaveLength(1);
    for (const hash of [GRACE, ALAN]) {
      for (const part of hash.split('.').slice(4)) expect(error.message).not.toContain(part.slice(0, 10));
    }
    expect(error.message).not.toContain('grace-password');
  });

  it('refuses the published demo OPS_PASSWORD outside sandbox, as before', () => {
    const env = { OPS_USERNAME: 'ops', OPS_PASSWORD: DEMO_SECRETS.OPS_PASSWORD };
    expect(readOpsUsers(env)).toHaveLength(1);
    expect(errorOf({ ...env, WEGROUP_ENV: 'production' }).variable).toBe('OPS_PASSWORD');
  });
});

describe('OpsUserDirectory: who a name and password are', () => {
  const users = readOpsUsers({ OPS_USERS: `grace:${GRACE}:viewer,alan:${ALAN}:operator`, OPS_USERNAME: 'ops', OPS_PASSWORD: 'ops-password' });

  it('resolves each user with its role, from either source; a wrong password, name or mix is null', async () => {
    const directory = new OpsUserDirectory(users);
    expect(await directory.check('grace', 'grace-password')).toEqual({ name: 'grace', role: 'viewer' });
    expect(await directory.check('alan', 'alan-password')).toEqual({ name: 'alan', role: 'operator' });
    expect(await directory.check('ops', 'ops-password')).toEqual({ name: 'ops', role: 'operator' });
    expect(await directory.check('grace', 'alan-password')).toBeNull();
    expect(await directory.check('nobody', 'grace-password')).toBeNull();
    expect(await directory.check('ops', 'ops-passwor')).toBeNull();
    expect(await directory.check('', '')).toBeNull();
  });

  it('lets a name and password that passed through again for a minute without scrypt, never a wrong one', async () => {
    let now = 1_000_000;
    const directory = new OpsUserDirectory(users, () => now);
    const timed = async (name: string, password: string) => {
      const started = process.hrtime.bigint();
      const user = await directory.check(name, password);
      return { user, ms: Number(process.hrtime.bigint() - started) / 1e6 };
    };
    const first = await timed('alan', 'alan-password');
    const again = await timed('alan', 'alan-password');
    expect(again.user).toEqual(first.user);
    expect(again.ms).toBeLessThan(first.ms);
    expect((await timed('alan', 'alan-passwordX')).user).toBeNull();
    now += OPS_SIGN_IN_MEMO_MS + 1;
    expect((await timed('alan', 'alan-password')).user).toEqual({ name: 'alan', role: 'operator' });
  });

  it('names the user as configured now, so a console session of a removed or re-roled user follows the configuration', () => {
    const before = new OpsUserDirectory(users);
    expect(before.current('grace')).toEqual({ name: 'grace', role: 'viewer' });
    // The next boot: grace is gone, alan is a viewer now.
    const after = new OpsUserDirectory(readOpsUsers({ OPS_USERS: `alan:${ALAN}:viewer` }));
    expect(after.current('grace')).toBeNull();
    expect(after.current('alan')).toEqual({ name: 'alan', role: 'viewer' });
    expect(after.current('')).toBeNull();
  });
});

describe('a lead as an ops viewer reads it', () => {
  const view = {
    id: 'lead-1',
    status: 'failed',
    attempts: 2,
    source: 'acme',
    distribution_id: 'dist-1',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:01:00.000Z',
    delivered_at: null,
    next_attempt_at: null,
    last_error: 'WeGroup answered 422: prospect.email "grace@example.com" is invalid',
    wegroup: { status_code: 422, lead_id: null, body: '{"error":"grace@example.com is invalid"}' },
    personal_data_erased_at: null,
    attempts_log: [
      { kind: 'attempt', attempt: 1, at: 'x', duration_ms: 5, outcome: 'transient', status_code: 503, error: 'busy', body: null, next_delay_ms: 100 },
      { kind: 'replayed', at: 'y', by: 'alan' },
      { kind: 'attempt', attempt: 1, at: 'z', duration_ms: 5, outcome: 'permanent', status_code: 422, error: 'grace@example.com', body: 'Grace', stack: 'at grace', next_delay_ms: null },
    ],
    callbacks_received: [{ received_at: 'w', content_type: 'application/json', body: { status: 'offer_sent', email: 'grace@example.com' } }],
    events: [],
  } as unknown as LeadStatusDto;

  it("hides WeGroup's body and each attempt's error, body and stack; the failure summary replaces last_error", () => {
    const masked = leadViewForViewer(view, 'WeGroup refused the lead (422)');
    expect(JSON.stringify(masked)).not.toMatch(/grace/i);
    expect(masked.wegroup).toEqual({ status_code: 422, lead_id: null, body: '(hidden: operator role needed)' });
    expect(masked.last_error).toBe('WeGroup refused the lead (422)');
    expect(masked.attempts_log[0]).toMatchObject({ error: '(hidden: operator role needed)', body: null, status_code: 503 });
    expect(masked.attempts_log[1]).toEqual({ kind: 'replayed', at: 'y', by: 'alan' });
    expect(masked.attempts_log[2]).toMatchObject({ error: '(hidden: operator role needed)', body: '(hidden: operator role needed)', stack: '(hidden: operator role needed)' });
    expect(masked.callbacks_received).toEqual([{ received_at: 'w', content_type: 'application/json', body: '(hidden: operator role needed)' }]);
    expect({ ...masked, last_error: view.last_error, wegroup: view.wegroup, attempts_log: view.attempts_log, callbacks_received: view.callbacks_received }).toEqual(view);
    expect(leadViewForViewer(view, null).last_error).toBe('(hidden: operator role needed)');
  });

  it("keeps a hold's reason (ours) and a missing error as they are", () => {
    const held = { ...view, last_error: 'waits for a new sign-in', attempts_log: [{ kind: 'held', at: 'x', reason: 'waits for a new sign-in', until: 'y' }] } as unknown as LeadStatusDto;
    expect(leadViewForViewer(held, null).last_error).toBe('waits for a new sign-in');
    expect(leadViewForViewer({ ...view, last_error: null, wegroup: null }, 'x')).toMatchObject({ last_error: null, wegroup: null });
  });
});
