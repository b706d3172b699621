import { ConfigError, Env, isDemoDataKey, Keyring, KeyringKey, list, refuseDemoSecret, string } from '@app/config';
import { configNamespace } from '@app/config/config-namespace';

/**
 * DATA_ENCRYPTION_KEY seals lead data at rest, as `key-id:base64-key`. To rotate, make the
 * new key current and move the old one to DATA_ENCRYPTION_OLD_KEYS: what it sealed stays readable.
 */
export function readDataKeyring(env: Env): Keyring {
  const parse = (name: string, entry: string): KeyringKey => {
    const colon = entry.indexOf(':');
    const id = entry.slice(0, colon).trim();
    const key = Buffer.from(entry.slice(colon + 1).trim(), 'base64');
    if (colon < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      throw new ConfigError(name, 'must be key-id:base64-key (the id: letters, digits, "_" and "-")');
    }
    if (key.length !== 32) throw new ConfigError(name, `key "${id}" must be 32 bytes, base64-encoded (got ${key.length} bytes)`);
    return { id, key };
  };
  const current = parse('DATA_ENCRYPTION_KEY', string(env, 'DATA_ENCRYPTION_KEY'));
  // Old keys may still hold the demo key: data sealed under it stays readable while moving off it.
  refuseDemoSecret(env, 'DATA_ENCRYPTION_KEY', isDemoDataKey(current.key));
  const older = list(env, 'DATA_ENCRYPTION_OLD_KEYS').map((entry) => parse('DATA_ENCRYPTION_OLD_KEYS', entry));
  return new Keyring(current, older);
}

/** DATA_ENCRYPTION_KEY, DATA_ENCRYPTION_OLD_KEYS: seal lead data at rest (job payloads, attempt logs). */
export const dataKeyringConfig = configNamespace('dataKeyring', readDataKeyring);
