import { Logger } from '@nestjs/common';
import { JobsOptions } from 'bullmq';
import { LeadEventsQueue, RedisClient, SEND_EVENT_JOB } from '@app/queue';
import { deliveryJobOptions, RetentionConfig, RetryConfig } from '@app/leads';
import { EventEndpoints } from './event-endpoints';
import { Keyring } from '@app/config';
import { leadEventBody, leadEventId, sealEventBody } from './lead-event';
import { LeadEventEmitter, LeadEventInput } from './lead-event.types';

/** The most events a lead's index keeps (a lead has a handful: delivered, a few retrying, updated per callback). */
export const MAX_EVENTS_PER_LEAD = 100;
/** Attempt-log lines kept per event (holds while the endpoint's breaker is open add lines too). */
export const EVENT_LOG_LINES = 200;

/** The list of a lead's event ids, oldest first, beside the events queue's keys. */
export function leadEventsIndexKey(queue: LeadEventsQueue, leadId: string): string {
  return queue.toKey(`lead-events:${leadId}`);
}

/**
 * Options every event job gets: the leads' schedule and retention (the job id is the event
 * id). A lead.updated event holds WeGroup's callback whole, so it is kept only as long as a
 * delivered lead's personal data (DELIVERED_RETENTION_DAYS), delivered or failed.
 */
export function eventJobOptions(retry: RetryConfig, retention: RetentionConfig, type?: string): JobsOptions {
  const options: JobsOptions = { ...deliveryJobOptions(retry, retention), keepLogs: EVENT_LOG_LINES };
  if (type !== 'lead.updated') return options;
  const age = retention.deliveredDays * 86_400;
  return { ...options, removeOnComplete: { age }, removeOnFail: { age } };
}

/**
 * Stores each event as a job of the events queue (never sends: the worker's events Worker
 * does), and indexes it on its lead for GET /v1/leads/{id}. A source without an endpoint, or
 * that does not take the type, gets nothing. A failure to store is logged and swallowed:
 * the lead's own outcome is recorded already and must not fail because its event could not
 * be (the caller goes on).
 */
export class QueueLeadEventEmitter extends LeadEventEmitter {
  private readonly logger = new Logger(LeadEventEmitter.name);
  private readonly jobOptions: JobsOptions;
  /** lead.updated carries WeGroup's callback: it goes with the lead's personal data. */
  private readonly updateJobOptions: JobsOptions;

  constructor(
    private readonly queue: LeadEventsQueue,
    private readonly endpoints: EventEndpoints,
    private readonly retention: RetentionConfig,
    retry: RetryConfig,
    private readonly keyring: Keyring,
  ) {
    super();
    this.jobOptions = eventJobOptions(retry, retention);
    this.updateJobOptions = eventJobOptions(retry, retention, 'lead.updated');
  }

  takes(source: string, type: LeadEventInput['type']): boolean {
    return this.endpoints.endpointFor(source)?.types.includes(type) ?? false;
  }

  async emit(event: LeadEventInput): Promise<void> {
    if (!this.takes(event.source, event.type)) return;
    const at = event.at ?? new Date();
    const id = leadEventId(event.lead_id, event.type, event.key);
    try {
      // A job id that exists already makes add a no-op: the same occurrence is one event.
      await this.queue.add(
        SEND_EVENT_JOB,
        {
          event_id: id,
          type: event.type,
          lead_id: event.lead_id,
          source: event.source,
          created_at: at.toISOString(),
          body: sealEventBody(this.keyring, leadEventBody(event, at)),
        },
        { ...(event.type === 'lead.updated' ? this.updateJobOptions : this.jobOptions), jobId: id },
      );
      const key = leadEventsIndexKey(this.queue, event.lead_id);
      await (await this.redis())
        .multi()
        .lrem(key, 0, id)
        .rpush(key, id)
        .ltrim(key, -MAX_EVENTS_PER_LEAD, -1)
        .expire(key, this.retention.metadataDays * 86_400)
        .exec();
    } catch (error) {
      this.logger.warn(`Event ${event.type} of lead ${event.lead_id} (source ${event.source}) not stored: ${(error as Error)?.message ?? 'unknown error'}`);
    }
  }

  private async redis(): Promise<RedisClient> {
    return await this.queue.state.get();
  }
}
