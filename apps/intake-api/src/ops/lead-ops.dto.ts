import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDateString, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { LEAD_EVENT_TYPES } from '@app/events';

export class BulkRetryDto {
  @ApiPropertyOptional({ example: 'WeGroup answered 503', description: 'Only leads whose failure reason contains this text (case-insensitive).' })
  @MaxLength(500)
  @IsString()
  @IsOptional()
  reason?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only leads that failed at or after this time.' })
  @IsDateString()
  @IsOptional()
  failed_after?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only leads that failed before this time.' })
  @IsDateString()
  @IsOptional()
  failed_before?: string;

  @ApiPropertyOptional({ example: 1000, default: 1000, description: 'At most this many leads (≤ 10,000).' })
  @Max(10_000)
  @Min(1)
  @IsInt()
  @IsOptional()
  limit?: number;
}

export class BulkRetryResultDto {
  @ApiProperty({ example: 12, description: 'Failed leads that matched the filter.' })
  matched: number;

  @ApiProperty({ example: 12, description: 'Leads re-queued with a fresh schedule.' })
  retried: number;
}

export class BreakerStateDto {
  @ApiProperty({ enum: ['closed', 'open', 'half_open'] })
  state: string;

  @ApiProperty({ example: 0 })
  consecutive_failures: number;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  opened_at: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  open_until: string | null;
}

export class DeliveryStateDto {
  @ApiProperty({ type: BreakerStateDto })
  circuit_breaker: BreakerStateDto;

  @ApiProperty({ example: 0, description: 'How long deliveries stay paused by a 429 or the open circuit, in ms.' })
  paused_for_ms: number;

  @ApiProperty({ example: { waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0 } })
  counts: Record<string, number>;
}

export class ErasureResultDto {
  @ApiProperty() id: string;

  @ApiProperty({ description: 'True when the lead was still queued: its delivery was cancelled.' })
  delivery_cancelled: boolean;

  @ApiProperty({ type: [String], example: ['lead data (prospect and request body)'] })
  removed: string[];

  @ApiProperty({ type: [String], example: ['id, source, distribution, status, timestamps, WeGroup lead id'] })
  kept: string[];
}

export class BulkEventRetryDto {
  @ApiPropertyOptional({ example: 'acme-crm', description: 'Only events of this source.' })
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'source must be a source name (1 to 64 letters, digits, "_", "." and "-")' })
  @IsString()
  @IsOptional()
  source?: string;

  @ApiPropertyOptional({ enum: LEAD_EVENT_TYPES, example: 'lead.delivered', description: 'Only events of this type.' })
  @IsIn(LEAD_EVENT_TYPES)
  @IsOptional()
  type?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only events that failed at or after this time.' })
  @IsDateString()
  @IsOptional()
  failed_after?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only events that failed before this time.' })
  @IsDateString()
  @IsOptional()
  failed_before?: string;

  @ApiPropertyOptional({ example: 100, default: 100, description: 'At most this many events (≤ 1,000).' })
  @Max(1000)
  @Min(1)
  @IsInt()
  @IsOptional()
  limit?: number;
}

export class EventRetriedDto {
  @ApiProperty({ example: 'evt_5f0c2b8e9d4a4e1f8b7c6d5e4f3a2b1c' })
  id: string;

  @ApiProperty({ enum: ['pending'], example: 'pending', description: 'Re-queued with a fresh schedule; the same webhook-id is sent again.' })
  state: 'pending';
}
