import { Job, Queue } from 'bullmq';
import { DELIVER_LEAD_JOB, SEND_EVENT_JOB } from './queue.constants';
import type { RedisClient } from './redis-connection';

/** The payload of a lead's delivery job: what the intake stores and the worker delivers. */
export interface DeliverLeadJobData {
  lead_id: string;
  /** The intake source (CRM) that posted the lead, from its API key. */
  source: string;
  distribution_id: string;
  received_at: string;
  /** The LeadBody, sealed with DATA_ENCRYPTION_KEY (@app/leads, lead-sealing.ts); null once erased. */
  sealed_lead: string | null;
  /** When the personal data was removed (retention or an erasure request). */
  lead_erased_at?: string;
  /** Keyed digest of the request body, to tell an idempotent replay from a conflicting reuse of a key. */
  body_hash: string;
  /** Time this lead has spent paused by WeGroup's 429s (which do not spend attempts). */
  rate_limited_ms?: number;
  /** The intake request's id (X-Request-ID): the worker logs with it and sends it on to WeGroup. */
  request_id?: string;
  /**
   * A lead posted as a platform's own webhook (POST /v1/hooks/{source}): the raw event, which
   * the worker maps (JSONata, @app/sources) before each delivery attempt. `sealed_lead` then
   * holds the last mapped lead (null until mapped, and once erased).
   */
  native?: NativeEventData;
}

/** A native event as stored on its lead. */
export interface NativeEventData {
  /** The source type (`hubspot`, `salesforce` …) it was received as. */
  type: string;
  /** The platform's event id (the idempotency key). */
  event_id: string;
  /** The event as received, sealed with DATA_ENCRYPTION_KEY; null once erased or past retention. */
  sealed_event: string | null;
}

/** Job payloads by job name: producer and consumer both type against this map. */
export interface LeadJobs {
  [DELIVER_LEAD_JOB]: DeliverLeadJobData;
}

export type LeadJobName = keyof LeadJobs;

/** What a finished delivery returns (the job's return value); WeGroup's body stays in the sealed log. */
export interface DeliveryResult {
  status_code: number;
  /** The lead id WeGroup answered with, when its body carries one. */
  lead_id: string | null;
}

/**
 * The client for the app's own keys beside a queue's (index, counters, audit, events): a
 * connection BullMQ has not loaded its 64 scripts onto, when the module gave one. On the
 * queue's own connection every MULTI or pipeline copies those scripts onto itself first
 * (ioredis does so for each): 0.13-0.18 ms of CPU each, against 0.005 ms on a plain one.
 */
class StateClient {
  private client: RedisClient | null = null;

  constructor(private readonly queue: Queue) {}

  set(client: RedisClient): void {
    this.client = client;
  }

  async get(): Promise<RedisClient> {
    return this.client ?? ((await this.queue.getBackend().client) as unknown as RedisClient);
  }
}

/**
 * The leads queue, typed by its jobs: the one name the apps inject it by. Its Redis name is
 * LEADS_QUEUE. Only LeadQueueModule creates it; only the lead repository (@app/leads) and
 * the delivery worker change its jobs (the ops dashboard and the queue-depth gauges read it).
 */
export class LeadsQueue extends Queue<DeliverLeadJobData, DeliveryResult, LeadJobName> {
  /** Where the app reads and writes its own keys beside this queue's (see StateClient). */
  readonly state = new StateClient(this as Queue);
}

/** A lead's delivery job, as the worker holds it (BullMQ's Worker types its job name as a string). */
export type LeadJob = Job<DeliverLeadJobData, DeliveryResult>;

/** Housekeeping jobs (the retention sweep). */
export class MaintenanceQueue extends Queue {}

/**
 * One event to send to a source's events endpoint. The job id is the event id, and the
 * Standard Webhooks `webhook-id`: stable across retries and replays, so receivers deduplicate.
 */
export interface LeadEventJobData {
  event_id: string;
  /** `lead.delivered`, `lead.failed`, `lead.retrying`, `lead.erased`, `lead.updated`. */
  type: string;
  lead_id: string;
  source: string;
  /** When the event happened (ISO); also the body's `timestamp`. */
  created_at: string;
  /** The body exactly as it is signed and sent: `{type, timestamp, data}` (never prospect fields). */
  body: string;
}

/** What a delivered event returns: the endpoint's status. */
export interface LeadEventResult {
  status_code: number;
}

/** The events queue (LEAD_EVENTS_QUEUE), typed by its one job. */
export class LeadEventsQueue extends Queue<LeadEventJobData, LeadEventResult, typeof SEND_EVENT_JOB> {
  /** Where the app reads and writes its own keys beside this queue's (see StateClient). */
  readonly state = new StateClient(this as Queue);
}

export type LeadEventJob = Job<LeadEventJobData, LeadEventResult>;
