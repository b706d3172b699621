import { ConfigError } from '@app/config';
import { SourceDefinition } from './source.types';

/**
 * Every source, whichever way it was declared (SOURCES_FILE, or INTAKE_API_KEYS: each entry
 * a `json` source). Throws ConfigError when a name (or an api key) is declared twice.
 *
 * STUB (intake branch): minimal fromApiKeys / apiKeys / webhookSecrets so the intake keeps
 * its INTAKE_API_KEYS behaviour; the sources lib's implementation replaces this file.
 */
export class SourceRegistry {
  constructor(readonly sources: SourceDefinition[]) {
    const names = new Set<string>();
    const keys = new Set<string>();
    for (const source of sources) {
      if (names.has(source.name)) throw new ConfigError(source.declaredIn, `source "${source.name}": the name is declared twice`);
      names.add(source.name);
      if (source.credentials.type !== 'json') continue;
      if (keys.has(source.credentials.api_key)) throw new ConfigError(source.declaredIn, `source "${source.name}": its api_key is another source's too`);
      keys.add(source.credentials.api_key);
    }
  }

  /** One `json` source per INTAKE_API_KEYS entry, with its INTAKE_WEBHOOK_SECRETS. */
  static fromApiKeys(apiKeys: Map<string, string>, webhookSecrets: Map<string, string[]>): SourceDefinition[] {
    return [...apiKeys].map(([key, name]) => ({
      name,
      type: 'json' as const,
      declaredIn: 'INTAKE_API_KEYS' as const,
      credentials: { type: 'json' as const, api_key: key, webhook_secrets: webhookSecrets.get(name) ?? [] },
    }));
  }

  get(name: string): SourceDefinition | undefined {
    return this.sources.find((source) => source.name === name);
  }

  all(): SourceDefinition[] {
    return this.sources;
  }

  /** Every `json` source's api key -> its name (the intake's X-API-Key keys). */
  apiKeys(): Map<string, string> {
    const keys = new Map<string, string>();
    for (const source of this.sources) if (source.credentials.type === 'json') keys.set(source.credentials.api_key, source.name);
    return keys;
  }

  /** `json` sources that sign (Standard Webhooks) -> their secrets. */
  webhookSecrets(): Map<string, string[]> {
    const secrets = new Map<string, string[]>();
    for (const source of this.sources) {
      if (source.credentials.type === 'json' && source.credentials.webhook_secrets.length > 0) secrets.set(source.name, source.credentials.webhook_secrets);
    }
    return secrets;
  }
}
