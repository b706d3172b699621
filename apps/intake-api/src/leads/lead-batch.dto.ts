import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CreateLeadDto } from '@app/leads';
import { FieldErrorDto } from '../common/problem.dto';
import { MAX_BATCH_LEADS } from './lead-batch';

/** The body of POST /v1/leads/batch. Checked by hand (lead-batch.ts), each lead as POST /v1/leads checks it. */
export class CreateLeadBatchDto {
  @ApiProperty({
    type: [CreateLeadDto],
    minItems: 1,
    maxItems: MAX_BATCH_LEADS,
    description: `1 to ${MAX_BATCH_LEADS} leads, each exactly the body of POST /v1/leads (distribution_id included). Each is checked and answered on its own.`,
  })
  leads: CreateLeadDto[];
}

/** What became of one lead of a batch. */
export class LeadBatchItemDto {
  @ApiProperty({ example: 0, description: 'Position of the lead in `leads`.' })
  index: number;

  @ApiProperty({
    enum: [202, 200, 400, 409, 422],
    example: 202,
    description:
      '202 stored and queued; 200 an idempotent replay (the lead created earlier, nothing enqueued); 400 invalid (see `errors`); 409 its idempotency key was used with another body; 422 no WeGroup connection for its distribution_id (SSO).',
  })
  status: 202 | 200 | 400 | 409 | 422;

  @ApiPropertyOptional({ example: '6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10', description: 'The lead id (202 and 200).' })
  id?: string;

  @ApiPropertyOptional({ example: '/v1/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10', description: 'Where to read the lead status (202 and 200).' })
  location?: string;

  @ApiPropertyOptional({
    type: [FieldErrorDto],
    description: 'Every invalid field (400; 422 names distribution_id), as POST /v1/leads reports them, with paths prefixed `leads[i].`.',
  })
  errors?: FieldErrorDto[];

  @ApiPropertyOptional({ example: 'Invalid lead: 1 problem in leads[1].prospect.first_name.', description: 'Why the lead was refused.' })
  detail?: string;
}

export class LeadBatchResultDto {
  @ApiProperty({ example: 1, description: 'Leads stored and queued now (202).' })
  accepted: number;

  @ApiProperty({ example: 0, description: 'Idempotent replays (200): created by an earlier request, nothing enqueued.' })
  replayed: number;

  @ApiProperty({ example: 1, description: 'Leads refused (400, 409, 422).' })
  rejected: number;

  @ApiProperty({ type: [LeadBatchItemDto], description: 'One result per lead, in request order.' })
  results: LeadBatchItemDto[];
}
