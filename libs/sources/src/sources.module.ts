import { DynamicModule, Module } from '@nestjs/common';
import { HttpModule, HttpService } from '@nestjs/axios';
import { provideConfig } from '@app/config/config-namespace';
import { JsonataLeadMapper, NATIVE_LEAD_MAPPER_OPTIONS, NativeLeadMapper, NativeLeadMapperOptions } from './native-lead.mapper';
import { FETCH_LIMITS, SourceRecordFetcher } from './record.fetcher';
import { SourceRegistry } from './source.registry';
import { sourcesConfig, SourcesConfig } from './sources.config';

/** The token SourcesConfig is provided under: inject with `@Inject(SOURCES_CONFIG)` (= sourcesConfig.KEY). */
export const SOURCES_CONFIG = sourcesConfig.KEY;

export type SourcesModuleOptions = NativeLeadMapperOptions;

/**
 * Provides SourceRegistry (the given one), NativeLeadMapper (JsonataLeadMapper),
 * SourceRecordFetcher (@nestjs/axios, timeouts, no redirects) and the SourcesConfig
 * (SOURCES_CONFIG) to the intake (preview) and the worker (delivery).
 */
@Module({})
export class SourcesModule {
  static forRoot(config: SourcesConfig, registry: SourceRegistry, options: SourcesModuleOptions = {}): DynamicModule {
    return {
      module: SourcesModule,
      imports: [HttpModule.register({ timeout: FETCH_LIMITS.timeoutMs, maxRedirects: 0 })],
      providers: [
        { provide: SourceRegistry, useValue: registry },
        provideConfig(sourcesConfig, config),
        { provide: NATIVE_LEAD_MAPPER_OPTIONS, useValue: { allowHttpUrls: options.allowHttpUrls === true } },
        { provide: SourceRecordFetcher, useFactory: (http, value: SourcesConfig) => new SourceRecordFetcher(http, value), inject: [HttpService, SOURCES_CONFIG] },
        JsonataLeadMapper,
        { provide: NativeLeadMapper, useExisting: JsonataLeadMapper },
      ],
      exports: [SourceRegistry, SOURCES_CONFIG, NativeLeadMapper, SourceRecordFetcher],
    };
  }
}
