import { HttpModule } from '@nestjs/axios';
import { DynamicModule, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import type { Dispatcher } from 'undici';
import { undiciAdapter } from './undici-adapter';
import { WeGroupClient } from './wegroup.client';

const WEGROUP_DISPATCHER = Symbol('WEGROUP_DISPATCHER');

/** WeGroup's connections are at most this long in the making (the answer has WEGROUP_TIMEOUT_MS). */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The HTTP layer toward WeGroup: `@nestjs/axios` over undici's connection pool (see
 * undici-adapter.ts), which keeps connections alive across deliveries. Every status is
 * returned (never thrown) so classification happens in one place, and the body stays text so
 * it can be stored bounded. The pool's connections are closed once the app has shut down.
 */
@Module({})
export class WeGroupHttpModule implements OnApplicationShutdown {
  constructor(@Inject(WEGROUP_DISPATCHER) private readonly dispatcher: Dispatcher) {}

  static register(options: { timeoutMs: number; maxSockets: number }): DynamicModule {
    const { adapter, dispatcher } = undiciAdapter({ connections: options.maxSockets, connectTimeoutMs: Math.min(options.timeoutMs, CONNECT_TIMEOUT_MS) });
    return {
      module: WeGroupHttpModule,
      imports: [
        HttpModule.register({
          adapter,
          timeout: options.timeoutMs,
          maxRedirects: 0,
          validateStatus: () => true,
          responseType: 'text',
          transformResponse: [(data: unknown) => data],
        }),
      ],
      providers: [WeGroupClient, { provide: WEGROUP_DISPATCHER, useValue: dispatcher }],
      exports: [WeGroupClient],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.dispatcher.close();
  }
}
