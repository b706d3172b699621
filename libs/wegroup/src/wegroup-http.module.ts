import { HttpModule } from '@nestjs/axios';
import { DynamicModule, Module } from '@nestjs/common';
import http from 'node:http';
import https from 'node:https';
import { WeGroupClient } from './wegroup.client';

/**
 * The HTTP layer toward WeGroup. Keep-alive agents reuse connections across deliveries;
 * every status is returned (never thrown) so classification happens in one place, and the
 * body stays text so it can be stored bounded.
 */
@Module({})
export class WeGroupHttpModule {
  static register(options: { timeoutMs: number; maxSockets: number }): DynamicModule {
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets };
    return {
      module: WeGroupHttpModule,
      imports: [
        HttpModule.register({
          timeout: options.timeoutMs,
          maxRedirects: 0,
          validateStatus: () => true,
          responseType: 'text',
          transformResponse: [(data: unknown) => data],
          httpAgent: new http.Agent(agentOptions),
          httpsAgent: new https.Agent(agentOptions),
        }),
      ],
      providers: [WeGroupClient],
      exports: [WeGroupClient],
    };
  }
}
