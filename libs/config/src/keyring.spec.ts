import { randomBytes } from 'node:crypto';
import { Keyring } from './keyring';

describe('Keyring', () => {
  const old = { id: 'k2025', key: randomBytes(32) };
  const current = { id: 'k2026', key: randomBytes(32) };

  it('seals with the current key, a fresh IV each time, and opens again', () => {
    const keyring = new Keyring(current);
    const a = keyring.seal('Foo Bar');
    expect(a).toMatch(/^v1\.k2026\./);
    expect(a).not.toBe(keyring.seal('Foo Bar'));
    expect(a).not.toContain('Foo Bar');
    expect(keyring.open(a)).toBe('Foo Bar');
  });

  it('never gives two values the same IV, across the refills of its random pool, and every one opens', () => {
    const keyring = new Keyring(current);
    // Several fills of the pool (341 IVs each), so the cut from one fill to the next is crossed.
    const sealed = Array.from({ length: 2_000 }, (_, index) => keyring.seal(`lead ${index}`));
    const ivs = sealed.map((value) => value.split('.')[2]);
    expect(ivs.every((iv) => Buffer.from(iv, 'base64url').length === 12)).toBe(true);
    expect(new Set(ivs).size).toBe(sealed.length);
    expect(sealed.map((value) => keyring.open(value))).toEqual(sealed.map((_, index) => `lead ${index}`));
  });

  it('keeps data sealed under an older key readable after rotation', () => {
    const sealedBefore = new Keyring(old).seal('lead');
    const rotated = new Keyring(current, [old]);
    expect(rotated.open(sealedBefore)).toBe('lead');
    expect(rotated.seal('lead')).toMatch(/^v1\.k2026\./);
    expect(() => new Keyring(current).open(sealedBefore)).toThrow(/"k2025", which is not configured/);
  });

  it('refuses tampered values and bad keys', () => {
    const keyring = new Keyring(current);
    const parts = keyring.seal('secret').split('.');
    parts[4] = Buffer.from('other').toString('base64url');
    expect(() => keyring.open(parts.join('.'))).toThrow();
    expect(() => new Keyring({ id: 'short', key: randomBytes(16) })).toThrow(/32 bytes/);
  });

  it('digests with the key, so equal inputs compare equal and the digest says nothing alone', () => {
    const keyring = new Keyring(current);
    expect(keyring.digest('a')).toBe(keyring.digest('a'));
    expect(keyring.digest('a')).not.toBe(new Keyring(old).digest('a'));
  });
});
