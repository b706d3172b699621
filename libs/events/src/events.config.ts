import { ConfigError, Env, integer, list } from '@app/config';
import { configNamespace } from '@app/config/config-namespace';
import { allowsHttpUrls, checkEventsSecret, checkEventsUrl, checkEventTypes, DEFAULT_SOURCE_EVENT_TYPES, SOURCE_NAME_PATTERN, SourceEventsEndpoint } from '@app/sources';

export interface EventsConfig {
  /** SOURCE_EVENTS (+ SOURCE_EVENT_SECRETS, SOURCE_EVENT_TYPES): endpoints of sources not declared in SOURCES_FILE, by source name. */
  endpoints: Map<string, SourceEventsEndpoint>;
  /** EVENTS_CONCURRENCY: events one worker sends at once (its own Worker, beside the leads'). */
  concurrency: number;
  /** EVENTS_TIMEOUT_MS: one request to an events endpoint, answer included. */
  timeoutMs: number;
}

/** `source=value` pairs, comma-separated: the source name, then everything after the first `=`. */
function pairs(env: Env, variable: string): Array<[string, string]> {
  return list(env, variable).map((entry) => {
    const cut = entry.indexOf('=');
    const source = cut > 0 ? entry.slice(0, cut).trim() : '';
    const value = cut > 0 ? entry.slice(cut + 1).trim() : '';
    if (!source || !value) throw new ConfigError(variable, 'must be comma-separated source=value pairs (an entry has no source or no value)');
    if (!SOURCE_NAME_PATTERN.test(source)) throw new ConfigError(variable, `has an invalid source name "${source.slice(0, 64)}" (letters, digits, "_", "." and "-")`);
    return [source, value];
  });
}

/**
 * Events endpoints given in the environment, for sources declared without a sources file
 * (INTAKE_API_KEYS): `SOURCE_EVENTS=crm-a=https://…`, `SOURCE_EVENT_SECRETS=crm-a=whsec_…`
 * (a source repeated while its receiver rotates; the first signs), optional
 * `SOURCE_EVENT_TYPES=crm-a=lead.delivered|lead.failed`. Never echoes a URL or a secret.
 */
export function readEventsConfig(env: Env): EventsConfig {
  const allowHttp = allowsHttpUrls(env);
  const urls = new Map<string, string>();
  for (const [source, value] of pairs(env, 'SOURCE_EVENTS')) {
    if (urls.has(source)) throw new ConfigError('SOURCE_EVENTS', `names source "${source}" twice`);
    urls.set(source, checkEventsUrl(value, allowHttp, (text) => {
      throw new ConfigError('SOURCE_EVENTS', `URL of source "${source}" ${text}`);
    }));
  }
  const secrets = new Map<string, string[]>();
  for (const [source, value] of pairs(env, 'SOURCE_EVENT_SECRETS')) {
    if (!urls.has(source)) throw new ConfigError('SOURCE_EVENT_SECRETS', `names source "${source}", which has no URL in SOURCE_EVENTS`);
    const secret = checkEventsSecret(value, (text) => {
      throw new ConfigError('SOURCE_EVENT_SECRETS', `secret of source "${source}" ${text}`);
    });
    const known = secrets.get(source) ?? [];
    if (known.includes(secret)) throw new ConfigError('SOURCE_EVENT_SECRETS', `lists a secret of source "${source}" twice`);
    if (known.length >= 10) throw new ConfigError('SOURCE_EVENT_SECRETS', `lists more than 10 secrets for source "${source}"`);
    secrets.set(source, [...known, secret]);
  }
  const types = new Map<string, string[]>();
  for (const [source, value] of pairs(env, 'SOURCE_EVENT_TYPES')) {
    if (!urls.has(source)) throw new ConfigError('SOURCE_EVENT_TYPES', `names source "${source}", which has no URL in SOURCE_EVENTS`);
    if (types.has(source)) throw new ConfigError('SOURCE_EVENT_TYPES', `names source "${source}" twice (separate its types with "|")`);
    types.set(source, checkEventTypes(value.split('|').map((type) => type.trim()), (text) => {
      throw new ConfigError('SOURCE_EVENT_TYPES', `of source "${source}" ${text}`);
    }));
  }
  const endpoints = new Map<string, SourceEventsEndpoint>();
  for (const [source, url] of urls) {
    const signing = secrets.get(source);
    if (!signing) throw new ConfigError('SOURCE_EVENT_SECRETS', `has no secret for source "${source}" (every events endpoint gets signed events)`);
    endpoints.set(source, { url, secrets: signing, types: types.get(source) ?? [...DEFAULT_SOURCE_EVENT_TYPES] });
  }
  return {
    endpoints,
    concurrency: integer(env, 'EVENTS_CONCURRENCY', 20, 1, 1000),
    timeoutMs: integer(env, 'EVENTS_TIMEOUT_MS', 10_000, 100, 120_000),
  };
}

/** SOURCE_EVENTS, SOURCE_EVENT_SECRETS, SOURCE_EVENT_TYPES, EVENTS_*: both apps read it (the intake emits, the worker emits and sends). */
export const eventsConfig = configNamespace('events', readEventsConfig);
