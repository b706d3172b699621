import { HttpModule } from '@nestjs/axios';
import { DynamicModule, Module } from '@nestjs/common';
import http from 'node:http';
import https from 'node:https';
import { keepAliveAdapter } from './keep-alive.adapter';
import { WeGroupClient } from './wegroup.client';

/**
 * The HTTP layer toward WeGroup. Keep-alive agents reuse connections across deliveries;
 * every status is returned (never thrown) so classification happens in one place, and the
 * body stays text so it can be stored bounded. The adapter is ours (keep-alive.adapter.ts):
 * axios's own costs more CPU per delivery than the exchange itself.
 */
@Module({})
export class WeGroupHttpModule {
  static register(options: { timeoutMs: number; maxSockets: number }): DynamicModule {
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets };
    const agents = { httpAgent: new http.Agent(agentOptions), httpsAgent: new https.Agent(agentOptions) };
    return {
      module: WeGroupHttpModule,
      imports: [
        HttpModule.register({
          timeout: options.timeoutMs,
          maxRedirects: 0,
          validateStatus: () => true,
          responseType: 'text',
          transformResponse: [(data: unknown) => data],
          ...agents,
          adapter: keepAliveAdapter(agents),
        }),
      ],
      providers: [WeGroupClient],
      exports: [WeGroupClient],
    };
  }
}
