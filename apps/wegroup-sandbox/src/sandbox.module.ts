import { DynamicModule, Module } from '@nestjs/common';
import { SandboxCallbackSender } from './sandbox-callback.sender';
import { SandboxControlController } from './sandbox-control.controller';
import { SandboxHealthController } from './sandbox-health.controller';
import { SandboxLeadsController } from './sandbox-leads.controller';
import { SANDBOX_OPTIONS } from './sandbox.constants';
import type { SandboxOptions } from './sandbox-options';
import { SandboxIntrospectionService } from './sandbox-introspection.service';
import { SandboxStateService } from './sandbox-state.service';

@Module({})
export class SandboxModule {
  static forRoot(options: SandboxOptions): DynamicModule {
    return {
      module: SandboxModule,
      controllers: [SandboxLeadsController, SandboxControlController, SandboxHealthController],
      providers: [{ provide: SANDBOX_OPTIONS, useValue: options }, SandboxStateService, SandboxIntrospectionService, SandboxCallbackSender],
      exports: [SandboxStateService, SandboxCallbackSender],
    };
  }
}
