/*
 * CONTRACT (skeleton): the names below are what the intake and the worker import. Each file
 * named here is filled in by the sources lib's implementation; signatures may grow but not
 * change meaning.
 *
 * - source.types.ts      SourceType, SourceDefinition, credentials, NativeEvent, FetchRequest
 * - source-adapter.ts    SourceAdapter, NativeRequest, HookAuthError, NativePayloadError
 * - sources.config.ts    sourcesConfig namespace (SOURCES_FILE, HUBSPOT_API_URL, PIPEDRIVE_API_URL,
 *                        FACEBOOK_GRAPH_URL, PUBLIC_BASE_URL): SourcesConfig { sources: SourceDefinition[], … }
 * - source.registry.ts   SourceRegistry: one registry, from the file and INTAKE_API_KEYS
 * - adapters/…           adapterFor(type): SourceAdapter, one file per type
 * - mapping/…            default mappings per type (JSONata), compile + evaluate with limits
 * - record.fetcher.ts    SourceRecordFetcher (Nest injectable over @nestjs/axios): fetch(source, FetchRequest)
 * - native-lead.mapper.ts  NativeLeadMapper: event -> fetch -> map -> validate -> LeadBody | LeadMappingError
 * - source-preview.ts    previewSource(...): what a payload would produce, with every problem
 */
export * from './source.types';
export * from './source-adapter';
export * from './sources.config';
export * from './source.registry';
export * from './adapters';
export * from './native-lead.mapper';
export * from './record.fetcher';
export * from './source-preview';
export * from './sources.module';
