import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { FieldErrorDto } from '../common/problem.dto';
import { SOURCE_TYPES } from '@app/sources';

export class SourceLeadCountsDto {
  @ApiProperty({ description: 'Leads stored (redeliveries not counted), since the counters began.', example: 42 })
  accepted: number;

  @ApiProperty({ example: 40 })
  delivered: number;

  @ApiProperty({ description: 'Leads that failed for good (mapping, fetch or WeGroup); GET /v1/leads/{id} says why.', example: 1 })
  failed: number;
}

export class SourceViewDto {
  @ApiProperty({ example: 'hubspot-main' })
  name: string;

  @ApiProperty({ enum: SOURCE_TYPES, example: 'hubspot' })
  type: string;

  @ApiProperty({ enum: ['SOURCES_FILE', 'INTAKE_API_KEYS'] })
  declared_in: string;

  @ApiProperty({ description: 'The URL to give the platform (PUBLIC_BASE_URL, else the origin this request came to).', example: 'https://leads.example.com/v1/hooks/hubspot-main' })
  url: string;

  @ApiProperty({ description: 'How a request proves it is the platform, in words (never a secret).', example: 'X-HubSpot-Signature-v3 (client secret)' })
  auth: string;

  @ApiProperty({ description: "The WeGroup distribution its leads go to (the source's own, or the default).", example: '11111111-2222-4333-8444-555555555555' })
  distribution_id: string;

  @ApiProperty({ enum: ['default', 'custom'], description: "`custom`: the source's own JSONata mapping; `default`: the type's." })
  mapping: 'default' | 'custom';

  @ApiProperty({ type: SourceLeadCountsDto })
  leads: SourceLeadCountsDto;
}

export class SourcesListDto {
  @ApiProperty({ type: [SourceViewDto] })
  sources: SourceViewDto[];
}

export class PreviewLeadDto {
  @ApiProperty({ example: '3214452160' })
  event_id: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true, description: 'The lead WeGroup would get, or null when mapping it failed (see `problems`).' })
  lead: Record<string, unknown> | null;

  @ApiProperty({ type: [FieldErrorDto], description: 'What stops this lead (the mapping, a fetch, the lead rules), naming the fields.' })
  problems: FieldErrorDto[];
}

export class PreviewIgnoredDto {
  @ApiPropertyOptional({ type: String, nullable: true })
  eventId: string | null;

  @ApiProperty({ example: 'contact.propertyChange is not a creation' })
  reason: string;
}

export class SourcePreviewDto {
  @ApiProperty({ example: 'hubspot-main' })
  source: string;

  @ApiProperty({ enum: SOURCE_TYPES, example: 'hubspot' })
  type: string;

  @ApiProperty({ type: [PreviewLeadDto] })
  leads: PreviewLeadDto[];

  @ApiProperty({ type: [PreviewIgnoredDto], description: 'Events that are not leads.' })
  ignored: PreviewIgnoredDto[];

  @ApiProperty({ type: [FieldErrorDto], description: 'Problems of the payload as a whole (not what the type takes).' })
  problems: FieldErrorDto[];
}
