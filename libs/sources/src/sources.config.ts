import { ConfigError, Env } from '@app/config';
import { configNamespace } from '@app/config/config-namespace';
import { SourceDefinition } from './source.types';

/** A native event's id deduplicates for this long: longer than any platform retries (HubSpot 3 days, Facebook 36 h). */
export const NATIVE_DEDUP_TTL_MS = 4 * 24 * 3600 * 1000;

export interface SourcesConfig {
  /** SOURCES_FILE's sources (INTAKE_API_KEYS's are added by the intake: SourceRegistry). */
  sources: SourceDefinition[];
  /** SOURCES_FILE as given, or null. */
  file: string | null;
  hubspotApiUrl: string;
  pipedriveApiUrl: string;
  facebookGraphUrl: string;
  /** PUBLIC_BASE_URL: how platforms reach the intake (the hook URLs GET /v1/sources shows; HubSpot signs it). */
  publicBaseUrl: string | null;
}

/** Reads and checks SOURCES_FILE (YAML, `${ENV_VAR}` secrets); a problem is a ConfigError naming the source. */
export function readSourcesConfig(env: Env): SourcesConfig {
  // STUB (intake branch): without SOURCES_FILE there are no file sources; the sources lib's
  // implementation reads the file.
  const file = env.SOURCES_FILE?.trim() || null;
  if (file) throw new ConfigError('SOURCES_FILE', 'is not read yet (not implemented)');
  return {
    sources: [],
    file,
    hubspotApiUrl: env.HUBSPOT_API_URL?.trim() || 'https://api.hubapi.com',
    pipedriveApiUrl: env.PIPEDRIVE_API_URL?.trim() || 'https://api.pipedrive.com',
    facebookGraphUrl: env.FACEBOOK_GRAPH_URL?.trim() || 'https://graph.facebook.com/v23.0',
    publicBaseUrl: env.PUBLIC_BASE_URL?.trim().replace(/\/+$/, '') || null,
  };
}

/** SOURCES_FILE and the platforms' API URLs: both apps read it (the intake authenticates, the worker fetches and maps). */
export const sourcesConfig = configNamespace('sources', readSourcesConfig);
