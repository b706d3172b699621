import { SourceDefinition } from './source.types';

/**
 * Every source, whichever way it was declared (SOURCES_FILE, or INTAKE_API_KEYS: each entry
 * a `json` source). Throws ConfigError when a name (or an api key) is declared twice.
 */
export class SourceRegistry {
  constructor(readonly sources: SourceDefinition[]) {}

  get(name: string): SourceDefinition | undefined {
    return this.sources.find((source) => source.name === name);
  }

  all(): SourceDefinition[] {
    return this.sources;
  }
}
