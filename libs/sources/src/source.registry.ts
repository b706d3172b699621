import { ConfigError } from '@app/config';
import { JsonCredentials, SourceDefinition } from './source.types';

/**
 * Every source, whichever way it was declared (SOURCES_FILE, or INTAKE_API_KEYS: each entry
 * a `json` source). Throws ConfigError when a name (or an api key) is declared twice.
 */
export class SourceRegistry {
  private readonly byName = new Map<string, SourceDefinition>();

  constructor(readonly sources: SourceDefinition[]) {
    const keys = new Map<string, SourceDefinition>();
    for (const source of sources) {
      const earlier = this.byName.get(source.name);
      if (earlier) throw new ConfigError(variablesOf(earlier, source), `source "${source.name}" is declared twice${declaredWhere(earlier, source)}`);
      this.byName.set(source.name, source);
      if (source.credentials.type !== 'json') continue;
      for (const key of keysOf(source.credentials)) {
        const owner = keys.get(key);
        if (owner) {
          throw new ConfigError(variablesOf(owner, source), `the api_key of source "${source.name}" is also the key of source "${owner.name}"${declaredWhere(owner, source)}`);
        }
        keys.set(key, source);
      }
    }
  }

  /**
   * INTAKE_API_KEYS's sources (key → source) as `json` sources, with their
   * INTAKE_WEBHOOK_SECRETS. A source given several keys (rotation) is one source with them all.
   */
  static fromApiKeys(apiKeys: Map<string, string>, webhookSecrets: Map<string, string[]>): SourceDefinition[] {
    const keysBySource = new Map<string, string[]>();
    for (const [key, source] of apiKeys) keysBySource.set(source, [...(keysBySource.get(source) ?? []), key]);
    return [...keysBySource].map(([name, keys]) => ({
      name,
      type: 'json' as const,
      declaredIn: 'INTAKE_API_KEYS' as const,
      credentials: { type: 'json' as const, api_key: keys[0], api_keys: keys, webhook_secrets: webhookSecrets.get(name) ?? [] },
    }));
  }

  get(name: string): SourceDefinition | undefined {
    return this.byName.get(name);
  }

  all(): SourceDefinition[] {
    return this.sources;
  }

  /** Every json source's API key → its name: the keys the intake's X-API-Key guard takes (POST /v1/leads too). */
  apiKeys(): Map<string, string> {
    const keys = new Map<string, string>();
    for (const source of this.sources) {
      if (source.credentials.type === 'json') for (const key of keysOf(source.credentials)) keys.set(key, source.name);
    }
    return keys;
  }

  /** Every json source that signs (Standard Webhooks) → its secrets. */
  webhookSecrets(): Map<string, string[]> {
    const secrets = new Map<string, string[]>();
    for (const source of this.sources) {
      if (source.credentials.type === 'json' && source.credentials.webhook_secrets.length) secrets.set(source.name, [...source.credentials.webhook_secrets]);
    }
    return secrets;
  }
}

function keysOf(credentials: JsonCredentials): string[] {
  return credentials.api_keys?.length ? credentials.api_keys : [credentials.api_key];
}

/** `SOURCES_FILE`, `INTAKE_API_KEYS`, or both as `SOURCES_FILE and INTAKE_API_KEYS`. */
function variablesOf(a: SourceDefinition, b: SourceDefinition): string {
  return a.declaredIn === b.declaredIn ? a.declaredIn : `${a.declaredIn} and ${b.declaredIn}`;
}

function declaredWhere(a: SourceDefinition, b: SourceDefinition): string {
  return a.declaredIn === b.declaredIn ? '' : ` (in ${a.declaredIn} and in ${b.declaredIn})`;
}
