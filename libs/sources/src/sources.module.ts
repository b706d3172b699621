import { DynamicModule, Module } from '@nestjs/common';
import { SourceRegistry } from './source.registry';
import { SourcesConfig } from './sources.config';

/**
 * Provides SourceRegistry (the given one), NativeLeadMapper and SourceRecordFetcher
 * (@nestjs/axios, keep-alive, timeouts) to the intake (preview) and the worker (delivery).
 * CONTRACT skeleton: the implementation adds the mapper and fetcher providers.
 */
@Module({})
export class SourcesModule {
  static forRoot(config: SourcesConfig, registry: SourceRegistry): DynamicModule {
    void config;
    return {
      module: SourcesModule,
      providers: [{ provide: SourceRegistry, useValue: registry }],
      exports: [SourceRegistry],
    };
  }
}
