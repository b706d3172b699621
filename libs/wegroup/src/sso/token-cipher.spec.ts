import { randomBytes } from 'node:crypto';
import { TokenCipher } from './token-cipher';

describe('TokenCipher', () => {
  const cipher = new TokenCipher(randomBytes(32));

  it('round-trips, with a fresh IV every time', () => {
    const a = cipher.encrypt('access-token-value');
    const b = cipher.encrypt('access-token-value');
    expect(a).not.toBe(b);
    expect(a).not.toContain('access-token-value');
    expect(cipher.decrypt(a)).toBe('access-token-value');
  });

  it('refuses tampered values and other keys', () => {
    const sealed = cipher.encrypt('secret');
    const parts = sealed.split('.');
    parts[3] = Buffer.from('xxxxxx').toString('base64url');
    expect(() => cipher.decrypt(parts.join('.'))).toThrow();
    expect(() => new TokenCipher(randomBytes(32)).decrypt(sealed)).toThrow();
    expect(() => new TokenCipher(randomBytes(16))).toThrow(/32-byte/);
  });
});
