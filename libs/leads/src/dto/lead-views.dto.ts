import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { LeadLogEntry } from '../lead-job';
import { LEAD_STATUSES, LeadStatus } from '../lead-status';

export class LeadAcceptedDto {
  @ApiProperty({ example: '6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10' })
  id: string;

  @ApiProperty({ enum: ['queued'], example: 'queued' })
  status: 'queued';
}

export class WeGroupResponseDto {
  @ApiProperty({ example: 201, description: "WeGroup's HTTP status code." })
  status_code: number;

  @ApiProperty({ nullable: true, type: String, example: '2a0e2b7c-3c55-4b8f-9f51-7e1f8e3a0d44' })
  lead_id: string | null;

  @ApiProperty({ nullable: true, type: String, description: "WeGroup's response body (truncated to 2 KB)." })
  body: string | null;
}

export class AttemptLogEntryDto {
  @ApiProperty({
    enum: ['attempt', 'replayed', 'held'],
    description: '`replayed`: ops re-queued the failed lead with a fresh schedule. `held`: it waits for a broker to sign in again.',
  })
  kind: 'attempt' | 'replayed' | 'held';

  @ApiProperty({ format: 'date-time' })
  at: string;

  @ApiPropertyOptional({ example: 1 })
  attempt?: number;

  @ApiPropertyOptional({ example: 412 })
  duration_ms?: number;

  @ApiPropertyOptional({
    enum: ['delivered', 'transient', 'permanent', 'rate_limited'],
    description: '`rate_limited`: WeGroup answered 429; the lead waited without spending the attempt.',
  })
  outcome?: string;

  @ApiPropertyOptional({ nullable: true, type: Number, example: 503 })
  status_code?: number | null;

  @ApiPropertyOptional({ nullable: true, type: String, example: 'WeGroup answered 503: upstream busy' })
  error?: string | null;

  @ApiPropertyOptional({ nullable: true, type: String })
  body?: string | null;

  @ApiPropertyOptional({ nullable: true, type: Number, example: 300000, description: 'The wait chosen before the next attempt.' })
  next_delay_ms?: number | null;

  @ApiPropertyOptional({ example: 'ops', description: 'Who replayed the lead.' })
  by?: string;

  @ApiPropertyOptional({ description: 'Why the lead is held.' })
  reason?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Held until (a new sign-in releases it sooner).' })
  until?: string;
}

export class NativeEventViewDto {
  @ApiProperty({ example: 'hubspot', description: 'The source type the event was received as.' })
  type: string;

  @ApiProperty({ example: '1234567890', description: "The platform's own id of the event (a redelivery of it is a replay)." })
  event_id: string;
}

export const LEAD_EVENT_STATES = ['pending', 'sending', 'retrying', 'delivered', 'failed'] as const;
export type LeadEventState = (typeof LEAD_EVENT_STATES)[number];

/** One event sent back to the lead's source (its events endpoint), as its delivery stands. */
export class LeadEventViewDto {
  @ApiProperty({ example: 'evt_5f0c2b8e9d4a4e1f8b7c6d5e4f3a2b1c', description: 'The event id: its `webhook-id`, the same at every attempt and replay.' })
  id: string;

  @ApiProperty({ example: 'lead.delivered', enum: ['lead.delivered', 'lead.failed', 'lead.retrying', 'lead.erased', 'lead.updated'] })
  type: string;

  @ApiProperty({ enum: LEAD_EVENT_STATES, example: 'delivered', description: '`retrying`: an attempt failed (or the endpoint is held back) and another is due.' })
  state: LeadEventState;

  @ApiProperty({ example: 1, description: 'Attempts made to send it.' })
  attempts: number;

  @ApiProperty({ format: 'date-time' })
  created_at: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  delivered_at: string | null;

  @ApiProperty({ nullable: true, type: String, example: 'Events endpoint answered 503', description: 'Why the last attempt failed.' })
  last_error: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'While waiting: when the next attempt is due.' })
  next_attempt_at: string | null;

  @ApiProperty({ nullable: true, type: Number, example: 200, description: "The endpoint's last HTTP status." })
  status_code: number | null;
}

/** One of WeGroup's callbacks about the lead, as received. */
export class CallbackReceivedDto {
  @ApiProperty({ format: 'date-time', description: 'When the intake received it.' })
  received_at: string;

  @ApiProperty({ nullable: true, type: String, example: 'application/json', description: 'Its Content-Type, as sent.' })
  content_type: string | null;

  @ApiProperty({
    oneOf: [{ type: 'object', additionalProperties: true }, { type: 'array', items: {} }, { type: 'string' }, { type: 'number' }, { type: 'boolean' }],
    nullable: true,
    description: "WeGroup's body, whole: parsed when it is JSON, else its text (WeGroup does not publish the shape of its callbacks).",
    example: { event: 'lead.status_changed', lead_id: '2a0e2b7c-3c55-4b8f-9f51-7e1f8e3a0d44', status: 'offer_sent', at: '2026-03-02T10:15:00.000Z' },
  })
  body: unknown;
}

export class LeadStatusDto {
  @ApiProperty({ example: '6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10' })
  id: string;

  @ApiProperty({ enum: LEAD_STATUSES, example: 'delivered' })
  status: LeadStatus;

  @ApiProperty({ example: 1, description: 'Delivery attempts made so far.' })
  attempts: number;

  @ApiProperty({ example: 'acme-crm', description: 'The intake source that posted the lead.' })
  source: string;

  @ApiProperty({ example: '11111111-2222-4333-8444-555555555555' })
  distribution_id: string;

  @ApiProperty({ format: 'date-time' })
  created_at: string;

  @ApiProperty({ format: 'date-time' })
  updated_at: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  delivered_at: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'While retrying: when the next attempt is due.' })
  next_attempt_at: string | null;

  @ApiProperty({
    nullable: true,
    type: String,
    example: 'WeGroup answered 503: upstream busy',
    description: 'What failed last and why.',
  })
  last_error: string | null;

  @ApiProperty({ type: WeGroupResponseDto, nullable: true })
  wegroup: WeGroupResponseDto | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'When its personal data was removed (retention or erasure).' })
  personal_data_erased_at: string | null;

  @ApiProperty({ type: [AttemptLogEntryDto], description: 'Every attempt (and replay), oldest first.' })
  attempts_log: LeadLogEntry[];

  @ApiProperty({
    type: [CallbackReceivedDto],
    description:
      "WeGroup's callbacks about the lead (POST /v1/callbacks/wegroup/…, set up when PUBLIC_BASE_URL is set), oldest first; the latest 50 are kept, and go with the lead's personal data (erasure, retention).",
  })
  callbacks_received: CallbackReceivedDto[];

  @ApiPropertyOptional({
    type: NativeEventViewDto,
    description:
      "Only for a lead posted as a platform's own webhook (POST /v1/hooks/{source}): which event it came from. The event itself is never shown; it is mapped again before each attempt.",
  })
  native?: NativeEventViewDto;

  @ApiProperty({
    type: [LeadEventViewDto],
    description: "Events sent back to the source's events endpoint about this lead (none when the source has no endpoint), oldest first.",
  })
  events: LeadEventViewDto[];
}
