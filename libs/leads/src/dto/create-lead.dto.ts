// class-validator runs a property's decorators bottom-up and we stop at the first failure,
// so the most basic check (present, right type) sits lowest.
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsDefined,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { HTTP_URLS_ALLOWED, HTTPS_URLS_ONLY, IsRiskObjects, IsWebUrl, MAX_RISK_OBJECTS_PER_KIND } from './lead-validators';

export { HTTP_URLS_ALLOWED, HTTPS_URLS_ONLY } from './lead-validators';

/** WeGroup refuses a name that is only whitespace (it trims first): refused here, not accepted to fail later. */
const NOT_BLANK = /\S/;

export class ExternalRefDto {
  @ApiProperty({ example: '123', description: "The CRM's own id for this prospect." })
  @MaxLength(255)
  @IsNotEmpty()
  @IsString()
  @IsDefined({ message: '$property is required' })
  external_ref: string;

  @ApiPropertyOptional({ example: 'company', description: 'Which CRM or company the id belongs to.' })
  @MaxLength(255)
  @IsString()
  @IsOptional()
  external_ref_company?: string;
}

/**
 * The documented prospect fields are validated; any other field (e-mail, phone, address …,
 * whose names WeGroup has not published) is passed through to WeGroup unchanged.
 */
export class ProspectDto {
  [field: string]: unknown;

  @ApiProperty({ example: 'Foo' })
  @MaxLength(200)
  @Matches(NOT_BLANK, { message: '$property must not be blank' })
  @IsNotEmpty()
  @IsString()
  @IsDefined({ message: '$property is required' })
  first_name: string;

  @ApiProperty({ example: 'Bar' })
  @MaxLength(200)
  @Matches(NOT_BLANK, { message: '$property must not be blank' })
  @IsNotEmpty()
  @IsString()
  @IsDefined({ message: '$property is required' })
  last_name: string;

  @ApiPropertyOptional({
    type: [String],
    example: ['https://crm.example.com/wegroup/callback'],
    description: 'https URLs (without credentials) to which WeGroup sends webhooks about updates of the lead; at most 20.',
  })
  @IsWebUrl(true, { each: true, groups: [HTTP_URLS_ALLOWED] })
  @IsWebUrl(false, { each: true, groups: [HTTPS_URLS_ONLY] })
  @ArrayMaxSize(20)
  @IsArray()
  @IsOptional()
  callbacks?: string[];

  @ApiPropertyOptional({ type: ExternalRefDto, description: 'Recommended by WeGroup: links the CRM id to the WeGroup lead.' })
  @ValidateNested()
  @IsObject()
  @IsOptional()
  @Type(() => ExternalRefDto)
  external_ref?: ExternalRefDto;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { cars: [{ vin: 'WBA6L7100LFH65459' }] },
    description: `Risk objects by kind (cars, residences …), each an array of at most ${MAX_RISK_OBJECTS_PER_KIND} objects, passed to WeGroup as given.`,
  })
  @IsRiskObjects()
  @IsObject()
  @IsOptional()
  risk_objects?: Record<string, unknown>;
}

export class CreateLeadDto {
  @ApiPropertyOptional({ example: 'CRM', description: 'Where the lead comes from (free text).' })
  @MaxLength(255)
  @IsNotEmpty()
  @IsString()
  @IsOptional()
  origin?: string;

  @ApiPropertyOptional({
    example: 'https://crm.example.com/prospects/1',
    description: 'Link back to the CRM record, shown in WeGroup: an https URL without credentials.',
  })
  @MaxLength(2048)
  @IsWebUrl(true, { groups: [HTTP_URLS_ALLOWED] })
  @IsWebUrl(false, { groups: [HTTPS_URLS_ONLY] })
  @IsOptional()
  backref?: string;

  @ApiProperty({ type: ProspectDto })
  @ValidateNested()
  @IsObject()
  @IsDefined({ message: '$property is required' })
  @Type(() => ProspectDto)
  prospect: ProspectDto;

  @ApiPropertyOptional({
    example: '11111111-2222-4333-8444-555555555555',
    description: 'WeGroup distribution that receives the lead; defaults to the configured one.',
  })
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, { message: 'distribution_id may hold only letters, digits, "_" and "-"' })
  @IsString()
  @IsOptional()
  distribution_id?: string;
}
