import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { WorkerAppConfig } from '@app/config';
import { ApiTokenAuthProvider, WEGROUP_AUTH_PROVIDER, WeGroupHttpModule } from '@app/wegroup';
import { LeadDeliveryProcessor } from './lead-delivery.processor';

@Module({})
export class WorkerModule {
  static forRoot(config: WorkerAppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, load: [() => config] }),
        WeGroupHttpModule.register({ timeoutMs: config.wegroup.timeoutMs, maxSockets: config.delivery.concurrency }),
      ],
      providers: [
        { provide: WEGROUP_AUTH_PROVIDER, useValue: new ApiTokenAuthProvider(config.wegroup.apiToken, config.wegroup.apiTokenScopes) },
        LeadDeliveryProcessor,
      ],
    };
  }
}
