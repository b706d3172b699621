import {
  formatOpsPasswordHash,
  hashOpsPassword,
  hashOpsPasswordSync,
  OPS_SCRYPT_LIMITS,
  OpsPasswordHashError,
  parseOpsPasswordHash,
  verifyOpsPassword,
} from './ops-password';

const SALT = Buffer.alloc(16, 7).toString('base64url');
const HASH = Buffer.alloc(32, 9).toString('base64url');
const hashWith = (params: string, salt = SALT, hash = HASH) => `scrypt.${params}.${salt}.${hash}`;

function problemOf(text: string): string {
  try {
    parseOpsPasswordHash(text);
  } catch (error) {
    if (error instanceof OpsPasswordHashError) return error.message;
    throw error;
  }
  throw new Error('expected the hash to be refused');
}

describe('ops password hashes (scrypt)', () => {
  it('hashes and verifies a password: the same one passes, any other fails', async () => {
    const text = await hashOpsPassword('correct horse battery staple');
    expect(text).toMatch(/^scrypt\.N=16384\.r=8\.p=1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    const hash = parseOpsPasswordHash(text);
    expect(await verifyOpsPassword(hash, 'correct horse battery staple')).toBe(true);
    expect(await verifyOpsPassword(hash, 'correct horse battery stapl')).toBe(false);
    expect(await verifyOpsPassword(hash, 'Correct horse battery staple')).toBe(false);
    expect(await verifyOpsPassword(hash, '')).toBe(false);
  });

  it('salts each hash: the same password twice gives two hashes, both verify', async () => {
    const [a, b] = await Promise.all([hashOpsPassword('same password'), hashOpsPassword('same password')]);
    expect(a).not.toBe(b);
    for (const text of [a, b]) expect(await verifyOpsPassword(parseOpsPasswordHash(text), 'same password')).toBe(true);
  });

  it('reads the text as Unicode (NFC), so an accent typed two ways is the same password', async () => {
    const hash = parseOpsPasswordHash(await hashOpsPassword('caf\u00e9-p\u00e4ss'));
    expect(await verifyOpsPassword(hash, 'cafe\u0301-pa\u0308ss')).toBe(true);
  });

  it('the boot-time hash of OPS_PASSWORD verifies the same way, and formats as a valid hash', async () => {
    const hash = hashOpsPasswordSync('ops-password');
    expect(await verifyOpsPassword(hash, 'ops-password')).toBe(true);
    expect(await verifyOpsPassword(hash, 'ops-passwore')).toBe(false);
    expect(parseOpsPasswordHash(formatOpsPasswordHash(hash))).toEqual(hash);
  });

  it('verifies hashes of other accepted costs (the cost is in the string)', async () => {
    const text = await hashOpsPassword('another password', { N: 32_768, r: 8, p: 2 });
    expect(text).toMatch(/^scrypt\.N=32768\.r=8\.p=2\./);
    expect(await verifyOpsPassword(parseOpsPasswordHash(text), 'another password')).toBe(true);
  });

  it.each([
    ['not a hash at all', 'hunter2-hunter2', /is not an scrypt hash/],
    ['another scheme', '$2b$12$abcdefghijklmnopqrstuu', /is not an scrypt hash/],
    ['$-separated', `scrypt$N=16384,r=8,p=1$${SALT}$${HASH}`, /is not an scrypt hash/],
    ['a missing part', `scrypt.N=16384.r=8.p=1.${SALT}`, /not a well-formed scrypt hash/],
    ['parameters out of order', hashWith('r=8.N=16384.p=1'), /not a well-formed/],
    ['padding', hashWith('N=16384.r=8.p=1', `${SALT}==`), /not a well-formed/],
    ['standard base64 characters', hashWith('N=16384.r=8.p=1', SALT, `${HASH.slice(0, -1)}+`), /not a well-formed/],
    ['a non-canonical base64url tail', hashWith('N=16384.r=8.p=1', SALT, `${HASH.slice(0, -1)}B`), /hash that is not canonical/],
    ['a short salt', hashWith('N=16384.r=8.p=1', Buffer.alloc(8).toString('base64url')), /8-byte salt: it must be 16 to 64 bytes/],
    ['a short hash', hashWith('N=16384.r=8.p=1', SALT, Buffer.alloc(16).toString('base64url')), /16-byte hash: it must be 32 to 64 bytes/],
    ['N not a power of two', hashWith('N=20000.r=8.p=1'), /N=20000: it must be a power of two from 16384 to 131072/],
    ['N too small (cheap to crack)', hashWith('N=1024.r=8.p=1'), /N=1024/],
    ['N over the cap', hashWith('N=1048576.r=8.p=1'), /N=1048576: it must be a power of two from 16384 to 131072/],
    ['r too small', hashWith('N=16384.r=1.p=1'), /r=1: it must be from 8 to 16/],
    ['r over the cap', hashWith('N=16384.r=64.p=1'), /r=64/],
    ['p over the cap', hashWith('N=16384.r=8.p=16'), /p=16: it must be from 1 to 4/],
    ['a cost over the cap', hashWith('N=131072.r=16.p=1'), /costs too much \(N·r·p = 2097152, at most 1048576\)/],
  ])('refuses %s, saying what is wrong without quoting the hash', (_case, text, problem) => {
    const message = problemOf(text);
    expect(message).toMatch(problem);
    expect(message).not.toContain(HASH.slice(0, 12));
    expect(message).not.toContain(SALT.slice(0, 12));
  });

  it('never hashes with a cost outside the limits', async () => {
    await expect(hashOpsPassword('x'.repeat(12), { N: OPS_SCRYPT_LIMITS.maxN * 2, r: 8, p: 1 })).rejects.toThrow(OpsPasswordHashError);
  });

  it('the capped cost stays well under a second and 128 MiB per check', async () => {
    const text = await hashOpsPassword('capped password', { N: OPS_SCRYPT_LIMITS.maxN, r: 8, p: 1 });
    const started = Date.now();
    expect(await verifyOpsPassword(parseOpsPasswordHash(text), 'capped password')).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
