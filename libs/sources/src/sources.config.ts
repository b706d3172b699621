import { readFileSync, statSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, Env, optionalString, url } from '@app/config';
import { configNamespace } from '@app/config/config-namespace';
import { compileMapping, MappingCompileError } from './mapping/mapping-engine';
import { DEFAULT_SOURCE_EVENT_TYPES, SOURCE_EVENT_TYPES, SOURCE_TYPES, SourceCredentials, SourceDefinition, SourceEventsEndpoint, SourceType } from './source.types';

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

const VARIABLE = 'SOURCES_FILE';
/** A sources file is a few KB; anything near this is not one. */
const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_SOURCES = 1_000;
export const SOURCE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const DISTRIBUTION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** Salesforce org ids: 15 characters, or 18 with the case-safe suffix. */
const ORGANIZATION_ID_PATTERN = /^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$/;
/** Standard Webhooks secrets: `whsec_` and 24 to 64 random bytes in base64 (INTAKE_WEBHOOK_SECRETS's rule). */
const WEBHOOK_SECRET_PATTERN = /^whsec_([A-Za-z0-9+/]+={0,2})$/;
/** Secrets we issue (API keys, shared tokens) are at least this long (INTAKE_API_KEYS's rule). */
const MIN_OWN_SECRET_LENGTH = 16;
const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

const COMMON_KEYS = ['name', 'type', 'distribution_id', 'origin', 'mapping', 'events'];

/** Every credential key per type, and which are required (one of a group, for hubspot). */
const CREDENTIAL_KEYS: Record<SourceType, string[]> = {
  hubspot: ['client_secret', 'api_key', 'access_token'],
  pipedrive: ['basic_auth', 'api_token'],
  salesforce: ['organization_id'],
  typeform: ['secret'],
  facebook: ['app_secret', 'verify_token', 'page_access_token'],
  zoho: ['token'],
  dynamics: ['token'],
  json: ['api_key', 'webhook_secret'],
};

type Entry = Record<string, unknown>;

function fail(problem: string): never {
  throw new ConfigError(VARIABLE, problem);
}

/** Reads and checks SOURCES_FILE (YAML, `${ENV_VAR}` secrets); a problem is a ConfigError naming the source. */
export function readSourcesConfig(env: Env): SourcesConfig {
  const file = optionalString(env, VARIABLE) ?? null;
  const publicBaseUrl = optionalString(env, 'PUBLIC_BASE_URL') === undefined ? null : url(env, 'PUBLIC_BASE_URL', undefined, ['http:', 'https:']);
  return {
    sources: file === null ? [] : readSourcesFile(file, env),
    file,
    hubspotApiUrl: url(env, 'HUBSPOT_API_URL', 'https://api.hubapi.com', ['http:', 'https:']),
    pipedriveApiUrl: url(env, 'PIPEDRIVE_API_URL', 'https://api.pipedrive.com', ['http:', 'https:']),
    facebookGraphUrl: url(env, 'FACEBOOK_GRAPH_URL', 'https://graph.facebook.com/v23.0', ['http:', 'https:']),
    publicBaseUrl,
  };
}

/** The sources a sources file declares; every problem is a ConfigError naming the source and the key. */
export function readSourcesFile(file: string, env: Env): SourceDefinition[] {
  let text: string;
  try {
    if (statSync(file).size > MAX_FILE_BYTES) fail(`"${file}" is larger than ${MAX_FILE_BYTES} bytes; a sources file is a few KB`);
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    fail(code === 'ENOENT' ? `"${file}" does not exist` : `"${file}" cannot be read (${code ?? 'error'})`);
  }
  return parseSources(text, env);
}

/** The sources of a sources file's text (see readSourcesFile). */
export function parseSources(text: string, env: Env): SourceDefinition[] {
  // Error messages of the YAML parser quote the file, which may hold secrets: only the position and code are told.
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  const yamlError = document.errors[0];
  if (yamlError) {
    const position = lineCounter.linePos(yamlError.pos[0]);
    const where = ` at line ${position.line}, column ${position.col}`;
    fail(`is not valid YAML${where} (${yamlError.code})`);
  }
  const root: unknown = document.toJS({ maxAliasCount: 100 });
  if (root === null || root === undefined) return [];
  if (!isEntry(root)) fail('must hold a mapping with a `sources:` list');
  const unknown = Object.keys(root).filter((key) => key !== 'sources');
  if (unknown.length) fail(`has an unknown top-level key "${unknown[0]}" (only "sources" is read)`);
  const list = root.sources;
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) fail('`sources` must be a list');
  if (list.length > MAX_SOURCES) fail(`declares ${list.length} sources; at most ${MAX_SOURCES}`);
  const names = new Set<string>();
  return list.map((entry, index) => {
    const source = readSource(entry, index, env);
    if (names.has(source.name)) fail(`source "${source.name}" is declared twice`);
    names.add(source.name);
    return source;
  });
}

function isEntry(value: unknown): value is Entry {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function readSource(entry: unknown, index: number, env: Env): SourceDefinition {
  if (!isEntry(entry)) fail(`sources[${index}] must be a mapping (name, type, credentials …)`);
  const rawName = entry.name;
  if (typeof rawName !== 'string' || rawName === '') fail(`sources[${index}] has no name`);
  if (!SOURCE_NAME_PATTERN.test(rawName)) fail(`sources[${index}] has an invalid name (1 to 64 letters, digits, "_", "." and "-")`);
  const name = rawName;
  const problem: (text: string) => never = (text) => fail(`source "${name}": ${text}`);
  const type = entry.type;
  if (typeof type !== 'string' || !(SOURCE_TYPES as readonly string[]).includes(type)) {
    problem(`type must be one of ${SOURCE_TYPES.join(', ')}${typeof type === 'string' ? `, got "${type.slice(0, 32)}"` : ''}`);
  }
  const sourceType = type as SourceType;
  const allowed = new Set([...COMMON_KEYS, ...CREDENTIAL_KEYS[sourceType]]);
  const unknownKey = Object.keys(entry).find((key) => !allowed.has(key));
  if (unknownKey !== undefined) {
    problem(`unknown key "${unknownKey.slice(0, 64)}" (a ${sourceType} source takes ${[...CREDENTIAL_KEYS[sourceType], ...COMMON_KEYS.slice(2)].join(', ')})`);
  }
  // ${VAR} in every value but the mapping (JSONata is not a place for secrets).
  const resolved: Entry = {};
  for (const [key, value] of Object.entries(entry)) resolved[key] = key === 'mapping' ? value : substitute(value, key, env, problem);

  const definition: SourceDefinition = {
    name,
    type: sourceType,
    declaredIn: 'SOURCES_FILE',
    credentials: readCredentials(sourceType, resolved, problem),
  };
  if (resolved.distribution_id !== undefined && resolved.distribution_id !== null) {
    const id = resolved.distribution_id;
    if (typeof id !== 'string' || !DISTRIBUTION_ID_PATTERN.test(id)) problem('distribution_id may hold only letters, digits, "_" and "-" (1 to 128)');
    definition.distributionId = id;
  }
  if (resolved.origin !== undefined && resolved.origin !== null) {
    const origin = resolved.origin;
    if (typeof origin !== 'string' || origin.trim() === '' || origin.length > 255) problem('origin must be text of 1 to 255 characters');
    definition.origin = origin;
  }
  if (resolved.mapping !== undefined && resolved.mapping !== null) {
    if (typeof resolved.mapping !== 'string') problem('mapping must be a JSONata expression (text; use `mapping: |` for several lines)');
    try {
      compileMapping(resolved.mapping);
    } catch (error) {
      if (!(error instanceof MappingCompileError)) throw error;
      problem(`mapping does not compile: ${error.message}`);
    }
    definition.mapping = resolved.mapping;
  }
  if (resolved.events !== undefined && resolved.events !== null) definition.events = readEventsEntry(resolved.events, env, problem);
  return definition;
}

/** `events: {url, secret, types}` of a source (its `${VAR}`s already resolved). */
function readEventsEntry(value: unknown, env: Env, problem: (text: string) => never): SourceEventsEndpoint {
  if (!isEntry(value)) problem('events must be a mapping with url, secret and (optional) types');
  const unknown = Object.keys(value).find((key) => !['url', 'secret', 'types'].includes(key));
  if (unknown !== undefined) problem(`unknown key "events.${unknown.slice(0, 64)}" (events takes url, secret, types)`);
  if (typeof value.url !== 'string' || value.url.trim() === '') problem('events.url is required (the https URL events are posted to)');
  const url = checkEventsUrl(value.url.trim(), allowsHttpUrls(env), (text) => problem(`events.url ${text}`));
  const raw = value.secret;
  if (raw === undefined || raw === null) problem('events.secret is required when events.url is set (whsec_…, or a list while rotating)');
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) problem('events.secret lists no secret');
  if (list.length > 10) problem('events.secret lists more than 10 secrets');
  const secrets = list.map((item, index) => checkEventsSecret(item, (text) => problem(`${Array.isArray(raw) ? `events.secret[${index}]` : 'events.secret'} ${text}`)));
  if (new Set(secrets).size !== secrets.length) problem('events.secret lists a secret twice');
  let types = [...DEFAULT_SOURCE_EVENT_TYPES];
  if (value.types !== undefined && value.types !== null) {
    if (!Array.isArray(value.types)) problem(`events.types must be a list of event types (${SOURCE_EVENT_TYPES.join(', ')})`);
    types = checkEventTypes(value.types, (text) => problem(`events.types ${text}`));
  }
  return { url, secrets, types };
}

/** ALLOW_HTTP_URLS=true: events endpoints may use http (local development), like every other URL. */
export function allowsHttpUrls(env: Env): boolean {
  return env.ALLOW_HTTP_URLS?.trim() === 'true';
}

/** An events endpoint's URL: https (http with ALLOW_HTTP_URLS), no credentials in it. Never echoed: it may carry a token. */
export function checkEventsUrl(value: string, allowHttp: boolean, problem: (text: string) => never): string {
  if (value.length > 2048) problem('is longer than 2048 characters');
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    problem('is not a valid URL');
  }
  if (parsed.protocol !== 'https:' && !(allowHttp && parsed.protocol === 'http:')) {
    problem(allowHttp ? 'must use https or http' : 'must use https (http only with ALLOW_HTTP_URLS=true, for local use)');
  }
  if (parsed.username || parsed.password) problem('must not hold credentials (user:password@): events are signed with events.secret');
  return value;
}

/** A Standard Webhooks secret: `whsec_` and 24 to 64 random bytes in base64. Never echoed. */
export function checkEventsSecret(value: unknown, problem: (text: string) => never): string {
  const match = typeof value === 'string' ? WEBHOOK_SECRET_PATTERN.exec(value.trim()) : null;
  const bytes = match ? Buffer.from(match[1], 'base64').length : 0;
  if (!match || bytes < 24 || bytes > 64) problem('must be "whsec_" followed by 24 to 64 random bytes in base64');
  return (value as string).trim();
}

/** Event type names, each known, none twice, at least one. */
export function checkEventTypes(values: unknown[], problem: (text: string) => never): string[] {
  if (values.length === 0) problem('lists no event type');
  const types = values.map((type) => {
    if (typeof type !== 'string' || !(SOURCE_EVENT_TYPES as readonly string[]).includes(type)) {
      problem(`has an unknown event type${typeof type === 'string' ? ` "${type.slice(0, 64)}"` : ''} (known: ${SOURCE_EVENT_TYPES.join(', ')})`);
    }
    return type;
  });
  if (new Set(types).size !== types.length) problem('lists an event type twice');
  return types;
}

/** `${VAR}` replaced in a string (and in the strings of a mapping or list); an unset or empty variable is a boot error. */
function substitute(value: unknown, key: string, env: Env, problem: (text: string) => never): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REFERENCE, (_match, variable: string) => {
      const replacement = env[variable];
      if (replacement === undefined || replacement.trim() === '') problem(`${key} refers to \${${variable}}, which is not set`);
      return replacement.trim();
    });
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, key, env, problem));
  if (isEntry(value)) return Object.fromEntries(Object.entries(value).map(([inner, item]) => [inner, substitute(item, `${key}.${inner}`, env, problem)]));
  return value;
}

function readCredentials(type: SourceType, entry: Entry, problem: (text: string) => never): SourceCredentials {
  const secret = (key: string, required: boolean, minLength = 1): string | undefined => {
    const value = entry[key];
    if (value === undefined || value === null) {
      if (required) problem(`${key} is required for a ${type} source`);
      return undefined;
    }
    if (typeof value !== 'string' && typeof value !== 'number') problem(`${key} must be text`);
    const text = String(value).trim();
    if (text === '') problem(`${key} is empty`);
    if (text.length < minLength) problem(`${key} is shorter than ${minLength} characters`);
    if (text.length > 4096) problem(`${key} is longer than 4096 characters`);
    return text;
  };
  switch (type) {
    case 'hubspot': {
      const client_secret = secret('client_secret', false);
      const api_key = secret('api_key', false, MIN_OWN_SECRET_LENGTH);
      if (!client_secret && !api_key) problem('client_secret (signature v3) or api_key is required for a hubspot source');
      return { type, client_secret, api_key, access_token: secret('access_token', false) };
    }
    case 'pipedrive': {
      const auth = entry.basic_auth;
      if (auth === undefined || auth === null) problem('basic_auth is required for a pipedrive source (username and password set on the webhook)');
      if (!isEntry(auth)) problem('basic_auth must be a mapping with username and password');
      const unknown = Object.keys(auth).find((key) => key !== 'username' && key !== 'password');
      if (unknown !== undefined) problem(`unknown key "basic_auth.${unknown.slice(0, 64)}" (basic_auth takes username, password)`);
      const username = typeof auth.username === 'string' ? auth.username.trim() : '';
      const password = typeof auth.password === 'string' ? auth.password.trim() : '';
      if (!username) problem('basic_auth.username is required');
      if (!password) problem('basic_auth.password is required');
      if (username.includes(':')) problem('basic_auth.username must not contain ":"');
      if (password.length < MIN_OWN_SECRET_LENGTH) problem(`basic_auth.password is shorter than ${MIN_OWN_SECRET_LENGTH} characters`);
      return { type, basic_auth: { username, password }, api_token: secret('api_token', false) };
    }
    case 'salesforce': {
      const organization_id = secret('organization_id', true)!;
      if (!ORGANIZATION_ID_PATTERN.test(organization_id)) problem('organization_id must be a Salesforce org id (15 or 18 letters and digits)');
      return { type, organization_id };
    }
    case 'typeform':
      return { type, secret: secret('secret', true)! };
    case 'facebook':
      return {
        type,
        app_secret: secret('app_secret', true)!,
        verify_token: secret('verify_token', true)!,
        page_access_token: secret('page_access_token', true)!,
      };
    case 'zoho':
    case 'dynamics':
      return { type, token: secret('token', true, MIN_OWN_SECRET_LENGTH)! };
    case 'json': {
      const api_key = secret('api_key', true, MIN_OWN_SECRET_LENGTH)!;
      const raw = entry.webhook_secret;
      const list = raw === undefined || raw === null ? [] : Array.isArray(raw) ? raw : [raw];
      if (list.length > 10) problem('webhook_secret lists more than 10 secrets');
      const webhook_secrets = list.map((item, index) => {
        const field = Array.isArray(raw) ? `webhook_secret[${index}]` : 'webhook_secret';
        const match = typeof item === 'string' ? WEBHOOK_SECRET_PATTERN.exec(item.trim()) : null;
        const bytes = match ? Buffer.from(match[1], 'base64').length : 0;
        if (!match || bytes < 24 || bytes > 64) problem(`${field} must be "whsec_" followed by 24 to 64 random bytes in base64`);
        return (item as string).trim();
      });
      if (new Set(webhook_secrets).size !== webhook_secrets.length) problem('webhook_secret lists a secret twice');
      return { type, api_key, webhook_secrets };
    }
  }
}

/** SOURCES_FILE and the platforms' API URLs: both apps read it (the intake authenticates, the worker fetches and maps). */
export const sourcesConfig = configNamespace('sources', readSourcesConfig);
