import { DynamicModule, Module, Provider } from '@nestjs/common';
import { HttpModule } from '@nestjs/axios';
import http from 'node:http';
import https from 'node:https';
import { provideConfig } from '@app/config/config-namespace';
import { LeadEventsQueue } from '@app/queue';
import { Keyring } from '@app/config';
import { RetentionConfig, RetryConfig } from '@app/leads';
import { EventEndpoints } from './event-endpoints';
import { EventsConfig, eventsConfig } from './events.config';
import { QueueLeadEventEmitter } from './lead-event.emitter';
import { LeadEventSender } from './lead-event.sender';
import { LeadEventStore } from './lead-event.store';
import { LeadEventEmitter } from './lead-event.types';

export interface EventsModuleOptions {
  config: EventsConfig;
  /** Each source's endpoint, built and checked when the app's configuration was read. */
  endpoints: EventEndpoints;
  /** Events get the leads' schedule and retention. */
  retry: RetryConfig;
  retention: RetentionConfig;
  /** DATA_ENCRYPTION_KEY's keyring: event bodies are sealed at rest. */
  keyring: Keyring;
  /** The worker: LeadEventSender, over an HTTP client of its own. */
  sender?: boolean;
}

/**
 * Provides LeadEventEmitter (stores events on the events queue: LeadQueueModule provides it),
 * EventEndpoints, LeadEventStore (the reader and the replays), the eventsConfig namespace and,
 * for the worker, LeadEventSender: its own keep-alive agents, timeout and no redirects, so a
 * slow CRM endpoint never holds a socket WeGroup's deliveries need.
 */
@Module({})
export class EventsModule {
  static forRoot(options: EventsModuleOptions): DynamicModule {
    const { config } = options;
    const agentOptions = { keepAlive: true, maxSockets: config.concurrency, maxFreeSockets: config.concurrency };
    const providers: Provider[] = [
      provideConfig(eventsConfig, config),
      { provide: EventEndpoints, useValue: options.endpoints },
      {
        provide: LeadEventEmitter,
        inject: [LeadEventsQueue, EventEndpoints],
        useFactory: (queue: LeadEventsQueue, endpoints: EventEndpoints) =>
          new QueueLeadEventEmitter(queue, endpoints, options.retention, options.retry, options.keyring),
      },
      { provide: LeadEventStore, inject: [LeadEventsQueue], useFactory: (queue: LeadEventsQueue) => new LeadEventStore(queue, options.keyring) },
      ...(options.sender ? [LeadEventSender] : []),
    ];
    return {
      module: EventsModule,
      imports: options.sender
        ? [
            HttpModule.register({
              timeout: config.timeoutMs,
              maxRedirects: 0,
              validateStatus: () => true,
              httpAgent: new http.Agent(agentOptions),
              httpsAgent: new https.Agent(agentOptions),
            }),
          ]
        : [],
      providers,
      exports: [eventsConfig.KEY, EventEndpoints, LeadEventEmitter, LeadEventStore, ...(options.sender ? [LeadEventSender] : [])],
    };
  }
}
