import { DynamicModule, Module } from '@nestjs/common';
import { LeadBody, LeadMappingError } from '@app/leads';
import { NativeLeadMapper } from './native-lead.mapper';
import { SourceDefinition } from './source.types';
import { SourceRegistry } from './source.registry';
import { SourcesConfig } from './sources.config';

/** How the apps' shared lead rules apply to mapped leads. */
export interface SourcesModuleOptions {
  /** ALLOW_HTTP_URLS: a mapped lead's `backref` and `callbacks` may use http (local development); https only otherwise, as for posted leads. */
  allowHttpUrls?: boolean;
}

/** STUB until the mapper lands: every native lead fails with a reason saying so (nothing is sent unmapped). */
class UnavailableNativeLeadMapper extends NativeLeadMapper {
  map(source: SourceDefinition): Promise<LeadBody> {
    return Promise.reject(new LeadMappingError(`Source "${source.name}": mapping native events is not available in this build`));
  }
}

/**
 * Provides SourceRegistry (the given one), NativeLeadMapper and SourceRecordFetcher
 * (@nestjs/axios, keep-alive, timeouts) to the intake (preview) and the worker (delivery).
 * CONTRACT skeleton: the implementation adds the mapper and fetcher providers.
 */
@Module({})
export class SourcesModule {
  static forRoot(config: SourcesConfig, registry: SourceRegistry, options: SourcesModuleOptions = {}): DynamicModule {
    void config;
    void options;
    return {
      module: SourcesModule,
      providers: [
        { provide: SourceRegistry, useValue: registry },
        { provide: NativeLeadMapper, useClass: UnavailableNativeLeadMapper },
      ],
      exports: [SourceRegistry, NativeLeadMapper],
    };
  }
}
