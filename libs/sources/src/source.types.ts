/**
 * Native sources: a CRM or lead-ad platform that posts its own webhook to
 * `POST /v1/hooks/{source}`. This file is the contract between the parts that read the
 * sources file (sources.config.ts), the intake route (authenticate, split, store), and the
 * worker (fetch by id, map with JSONata, deliver).
 */

export const SOURCE_TYPES = ['hubspot', 'pipedrive', 'salesforce', 'typeform', 'facebook', 'zoho', 'dynamics', 'json'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

/** Credential keys per type, exactly as spelled in the sources file (secrets may be `${ENV_VAR}`). */
export interface HubspotCredentials {
  type: 'hubspot';
  /** Verifies X-HubSpot-Signature-v3. At least one of client_secret / api_key. */
  client_secret?: string;
  /** A key HubSpot's workflow webhook sends in a header (X-API-Key) instead of a signature. */
  api_key?: string;
  /** Private-app token: fetches a contact by id for Webhooks API v3 events (ids only). */
  access_token?: string;
}
export interface PipedriveCredentials {
  type: 'pipedrive';
  basic_auth: { username: string; password: string };
  /** Fetches the person of a deal or lead. */
  api_token?: string;
}
export interface SalesforceCredentials {
  type: 'salesforce';
  /** 15 or 18 characters; a notification of another org is refused. */
  organization_id: string;
}
export interface TypeformCredentials {
  type: 'typeform';
  secret: string;
}
export interface FacebookCredentials {
  type: 'facebook';
  app_secret: string;
  verify_token: string;
  page_access_token: string;
}
export interface TokenCredentials {
  type: 'zoho' | 'dynamics';
  /** Header X-Source-Token or query parameter `token`, compared in constant time. */
  token: string;
}
export interface JsonCredentials {
  type: 'json';
  api_key: string;
  /** Every key of the source, api_key first: INTAKE_API_KEYS may give one source several while a key is rotated. */
  api_keys?: string[];
  /** Standard Webhooks secrets (`whsec_…`), several while rotating. */
  webhook_secrets: string[];
}
export type SourceCredentials =
  | HubspotCredentials
  | PipedriveCredentials
  | SalesforceCredentials
  | TypeformCredentials
  | FacebookCredentials
  | TokenCredentials
  | JsonCredentials;

/** One source, whichever way it was declared. */
export interface SourceDefinition {
  /** Recorded on each lead as `source`; the `{source}` of the hook URL. `[A-Za-z0-9_.-]{1,64}`. */
  name: string;
  type: SourceType;
  declaredIn: 'SOURCES_FILE' | 'INTAKE_API_KEYS';
  credentials: SourceCredentials;
  /** The WeGroup distribution its leads go to (default: the configured one). */
  distributionId?: string;
  /** `origin` of its leads, unless the mapping sets one (default: the platform's name, e.g. `HubSpot`). */
  origin?: string;
  /** The source's own JSONata expression, when it overrides the type's default mapping. */
  mapping?: string;
  /** Where lead events go back to (`events:` in SOURCES_FILE, or SOURCE_EVENTS): @app/events. */
  events?: SourceEventsEndpoint;
}

/**
 * The event types a source may subscribe to, and the default set: the same lists as
 * @app/events's LEAD_EVENT_TYPES and DEFAULT_EVENT_TYPES (a spec there keeps them equal),
 * repeated here because the sources file is read below that lib.
 */
export const SOURCE_EVENT_TYPES = ['lead.delivered', 'lead.failed', 'lead.retrying', 'lead.erased', 'lead.updated'] as const;
export const DEFAULT_SOURCE_EVENT_TYPES: readonly string[] = ['lead.delivered', 'lead.failed', 'lead.erased', 'lead.updated'];

/** A source's events endpoint: Standard Webhooks, signed with its secrets. */
export interface SourceEventsEndpoint {
  /** https (http only with ALLOW_HTTP_URLS). */
  url: string;
  /** `whsec_…`; the first signs, several while the receiver rotates. */
  secrets: string[];
  /** The event types sent; default every type but `lead.retrying` (opt-in). */
  types: string[];
}

/**
 * One lead's worth of a native request, as the intake stores it (sealed) and the worker
 * reads it back: a HubSpot v3 event, one Salesforce notification, one Facebook leadgen
 * change, a whole Typeform response …
 */
export interface NativeEvent {
  /** The platform's own id of this event: the idempotency key (a redelivery is a no-op). */
  eventId: string;
  /** The event as received (XML already parsed to JSON for Salesforce). */
  payload: unknown;
}

/** A record the worker must fetch before it can map the event (ids-only events). */
export type FetchRequest =
  | { platform: 'hubspot'; object: 'contact'; id: string }
  | { platform: 'pipedrive'; object: 'person'; id: string }
  | { platform: 'facebook'; object: 'leadgen'; id: string };

/** A problem with a native payload or its mapping, naming the field. */
export interface SourceProblem {
  field: string;
  message: string;
}
