import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * The ops password hash: scrypt (node:crypto), written as one self-describing string
 *
 *   scrypt.N=16384.r=8.p=1.<salt>.<hash>
 *
 * salt and hash in unpadded base64url. Dots, not the `$` and `,` of other formats: an entry of
 * OPS_USERS is `name:hash:role` and entries are comma-separated, and compose reads `$` in a
 * .env or docker-compose.yml as a variable. So the string goes into OPS_USERS as it is.
 *
 * Nest-free and dependency-free on purpose: `npm run ops:hash-password` (scripts/) uses this
 * module, bundled by `npm run build`, so the CLI and the intake share one format.
 */
export const OPS_PASSWORD_SCHEME = 'scrypt';

export interface OpsPasswordHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** What `npm run ops:hash-password` writes: 16 MiB and a few tens of ms per check. */
export const OPS_SCRYPT_DEFAULTS = { N: 16_384, r: 8, p: 1 } as const;

/**
 * Bounds a hash must keep. The lower ones refuse a hash too cheap to resist guessing should
 * the config leak; the upper ones stop a hostile or mistaken config from making every ops
 * sign-in take seconds and hundreds of MiB: N·r·p at most 2^20, what N=131072, r=8, p=1
 * costs (128 MiB, well under a second).
 */
export const OPS_SCRYPT_LIMITS = {
  minN: 2 ** 14,
  maxN: 2 ** 17,
  minR: 8,
  maxR: 16,
  minP: 1,
  maxP: 4,
  maxWork: 2 ** 20,
  minSaltBytes: 16,
  maxSaltBytes: 64,
  minHashBytes: 32,
  maxHashBytes: 64,
} as const;

const SALT_BYTES = 16;
const HASH_BYTES = 32;

/** Says what is wrong with a hash string, never quoting it. */
export class OpsPasswordHashError extends Error {}

const FORMAT = /^scrypt\.N=(\d{1,7})\.r=(\d{1,3})\.p=(\d{1,3})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

/** Parses a hash string strictly; throws OpsPasswordHashError naming the part at fault. */
export function parseOpsPasswordHash(text: string): OpsPasswordHash {
  const match = FORMAT.exec(text);
  if (!match) {
    throw new OpsPasswordHashError(
      text.startsWith(`${OPS_PASSWORD_SCHEME}.`)
        ? 'is not a well-formed scrypt hash (scrypt.N=….r=….p=….<salt>.<hash>, base64url without padding)'
        : 'is not an scrypt hash (it must start with "scrypt.": make one with npm run ops:hash-password)',
    );
  }
  const [N, r, p] = [match[1], match[2], match[3]].map(Number);
  checkCost({ N, r, p });
  const L = OPS_SCRYPT_LIMITS;
  const salt = base64url(match[4], 'salt', L.minSaltBytes, L.maxSaltBytes);
  const hash = base64url(match[5], 'hash', L.minHashBytes, L.maxHashBytes);
  return { N, r, p, salt, hash };
}

/** Throws OpsPasswordHashError when N, r or p is outside OPS_SCRYPT_LIMITS. */
export function checkCost({ N, r, p }: { N: number; r: number; p: number }): void {
  const L = OPS_SCRYPT_LIMITS;
  if (!Number.isInteger(N) || N < L.minN || N > L.maxN || (N & (N - 1)) !== 0) {
    throw new OpsPasswordHashError(`has N=${N}: it must be a power of two from ${L.minN} to ${L.maxN}`);
  }
  if (!Number.isInteger(r) || r < L.minR || r > L.maxR) throw new OpsPasswordHashError(`has r=${r}: it must be from ${L.minR} to ${L.maxR}`);
  if (!Number.isInteger(p) || p < L.minP || p > L.maxP) throw new OpsPasswordHashError(`has p=${p}: it must be from ${L.minP} to ${L.maxP}`);
  if (N * r * p > L.maxWork) {
    throw new OpsPasswordHashError(`costs too much (N·r·p = ${N * r * p}, at most ${L.maxWork}): every sign-in would take that long`);
  }
}

function base64url(text: string, part: string, min: number, max: number): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  // Node decodes leniently; only the canonical spelling of the bytes is accepted.
  if (bytes.toString('base64url') !== text) throw new OpsPasswordHashError(`has a ${part} that is not canonical base64url without padding`);
  if (bytes.length < min || bytes.length > max) throw new OpsPasswordHashError(`has a ${bytes.length}-byte ${part}: it must be ${min} to ${max} bytes`);
  return bytes;
}

export function formatOpsPasswordHash({ N, r, p, salt, hash }: OpsPasswordHash): string {
  return `${OPS_PASSWORD_SCHEME}.N=${N}.r=${r}.p=${p}.${salt.toString('base64url')}.${hash.toString('base64url')}`;
}

/** Room for scrypt's 128·N·r bytes (node's default cap of 32 MiB is below N=2^17, r=8). */
function options({ N, r, p }: Pick<OpsPasswordHash, 'N' | 'r' | 'p'>) {
  return { N, r, p, maxmem: 256 * N * r };
}

/** The bytes scrypt hashes: the password's UTF-8, NFC-normalised so the same text typed two ways still matches. */
function passwordBytes(password: string): Buffer {
  return Buffer.from(password.normalize('NFC'), 'utf8');
}

function derive(password: string, params: Pick<OpsPasswordHash, 'N' | 'r' | 'p' | 'salt'>, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(passwordBytes(password), params.salt, length, options(params), (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** A fresh hash string for `password`, with a random salt. */
export async function hashOpsPassword(password: string, params: { N: number; r: number; p: number } = OPS_SCRYPT_DEFAULTS): Promise<string> {
  checkCost(params);
  const salt = randomBytes(SALT_BYTES);
  const { N, r, p } = params;
  return formatOpsPasswordHash({ N, r, p, salt, hash: await derive(password, { N, r, p, salt }, HASH_BYTES) });
}

/** Synchronous, for boot only (the intake turns OPS_PASSWORD into a hash once, so every user is checked alike). */
export function hashOpsPasswordSync(password: string): OpsPasswordHash {
  const salt = randomBytes(SALT_BYTES);
  return { ...OPS_SCRYPT_DEFAULTS, salt, hash: scryptSync(passwordBytes(password), salt, HASH_BYTES, options(OPS_SCRYPT_DEFAULTS)) };
}

/** Whether `password` is the one `expected` was made from; scrypt off the event loop, compared in constant time. */
export async function verifyOpsPassword(expected: OpsPasswordHash, password: string): Promise<boolean> {
  const actual = await derive(password, expected, expected.hash.length);
  return timingSafeEqual(actual, expected.hash);
}
