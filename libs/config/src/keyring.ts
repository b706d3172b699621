import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

export interface KeyringKey {
  id: string;
  key: Buffer;
}

const FORMAT = 'v1';

/**
 * AES-256-GCM with named keys: values are sealed with the current key and carry its id, so
 * keys can rotate while data sealed under an older key stays readable. Each value gets its
 * own random 96-bit IV; the auth tag makes tampering fail loudly.
 */
export class Keyring {
  private readonly byId: Map<string, Buffer>;

  constructor(
    private readonly current: KeyringKey,
    older: KeyringKey[] = [],
  ) {
    for (const { id, key } of [current, ...older]) {
      if (key.length !== 32) throw new Error(`Key "${id}" must be 32 bytes`);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error(`Key id "${id}" may hold only letters, digits, "_" and "-"`);
    }
    this.byId = new Map([current, ...older].map(({ id, key }) => [id, key]));
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [FORMAT, this.current.id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  open(sealed: string): string {
    const [format, id, iv, tag, body] = sealed.split('.');
    if (format !== FORMAT || !id || !iv || !tag || body === undefined) throw new Error('Not a sealed value');
    const key = this.byId.get(id);
    if (!key) throw new Error(`Sealed with key "${id}", which is not configured`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }

  static isSealed(value: string): boolean {
    return value.startsWith(`${FORMAT}.`);
  }

  /** A keyed digest (HMAC-SHA256 under the current key): comparable, but not guessable from the data. */
  digest(text: string): string {
    return createHmac('sha256', this.current.key).update(text).digest('hex');
  }
}
