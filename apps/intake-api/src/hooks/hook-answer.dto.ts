import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

const LEAD_ID = '6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10';

export class HookLeadDto {
  @ApiProperty({ description: "The platform's id of the event (the idempotency key).", example: '3214452160' })
  event_id: string;

  @ApiProperty({ description: 'The lead it became (on a replay: the lead the first delivery of the event made).', example: LEAD_ID })
  id: string;

  @ApiProperty({ enum: ['accepted', 'replayed'], description: '`replayed`: the event was stored before (a redelivery); nothing new was enqueued.' })
  status: 'accepted' | 'replayed';

  @ApiProperty({ description: 'Where to read the lead status (ops credentials, or the API key of a `json` source).', example: `/v1/leads/${LEAD_ID}` })
  location: string;
}

export class HookIgnoredEventDto {
  @ApiPropertyOptional({ type: String, nullable: true, description: "The event's id, when it has one.", example: '3214452161' })
  event_id: string | null;

  @ApiProperty({ description: 'Why it is not a lead (another entity, an update, a payload the type does not take).', example: 'contact.propertyChange is not a creation' })
  reason: string;
}

export class HookAnswerDto {
  @ApiProperty({ example: 'hubspot-main' })
  source: string;

  @ApiProperty({ description: 'Events stored as new leads.', example: 1 })
  accepted: number;

  @ApiProperty({ description: 'Events stored before (redeliveries): no new lead.', example: 0 })
  replayed: number;

  @ApiProperty({ description: 'Events that are not leads.', example: 1 })
  ignored: number;

  @ApiProperty({ type: [HookLeadDto] })
  leads: HookLeadDto[];

  @ApiProperty({ type: [HookIgnoredEventDto] })
  ignored_events: HookIgnoredEventDto[];
}
