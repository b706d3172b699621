import { ConfigError } from '@app/config';
import { SourceEventsEndpoint, SourceRegistry } from '@app/sources';
import { EventsConfig } from './events.config';

/**
 * Where each source's events go: its `events:` in SOURCES_FILE, or SOURCE_EVENTS. Built at
 * boot; throws ConfigError when a source has both, or (`everySource`: the intake, which knows
 * INTAKE_API_KEYS's sources too) when SOURCE_EVENTS names no source.
 */
export class EventEndpoints {
  private readonly byName = new Map<string, SourceEventsEndpoint>();

  constructor(registry: SourceRegistry, config: Pick<EventsConfig, 'endpoints'>, options: { everySource: boolean }) {
    for (const source of registry.all()) if (source.events) this.byName.set(source.name, source.events);
    for (const [name, endpoint] of config.endpoints) {
      if (this.byName.has(name)) {
        throw new ConfigError('SOURCE_EVENTS', `names source "${name}", whose events endpoint SOURCES_FILE declares already (declared twice)`);
      }
      if (options.everySource && !registry.get(name)) {
        throw new ConfigError('SOURCE_EVENTS', `names source "${name}", which is no source (not in SOURCES_FILE nor INTAKE_API_KEYS)`);
      }
      this.byName.set(name, endpoint);
    }
  }

  /** The source's events endpoint, or null when it has none. */
  endpointFor(source: string): SourceEventsEndpoint | null {
    return this.byName.get(source) ?? null;
  }

  /** How many sources have one (for the boot log line). */
  get size(): number {
    return this.byName.size;
  }
}
