import { ConfigError, Env, optionalString, url } from '@app/config';
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
  // STUB until the sources file reader lands: no sources without SOURCES_FILE, and a file is
  // refused rather than ignored (nothing configured is silently dropped).
  const file = optionalString(env, 'SOURCES_FILE') ?? null;
  if (file !== null) throw new ConfigError('SOURCES_FILE', 'cannot be read by this build yet (the sources file reader is not implemented)');
  const web = ['http:', 'https:'];
  return {
    sources: [],
    file,
    hubspotApiUrl: url(env, 'HUBSPOT_API_URL', 'https://api.hubapi.com', web),
    pipedriveApiUrl: url(env, 'PIPEDRIVE_API_URL', 'https://api.pipedrive.com', web),
    facebookGraphUrl: url(env, 'FACEBOOK_GRAPH_URL', 'https://graph.facebook.com/v23.0', web),
    publicBaseUrl: optionalString(env, 'PUBLIC_BASE_URL') ?? null,
  };
}

/** SOURCES_FILE and the platforms' API URLs: both apps read it (the intake authenticates, the worker fetches and maps). */
export const sourcesConfig = configNamespace('sources', readSourcesConfig);
