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
  IsUrl,
  Matches,
  MaxLength,
  ValidateNested,
} from 'class-validator';

const URL_OPTIONS = { require_protocol: true, protocols: ['http', 'https'], require_tld: false };

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
  @IsNotEmpty()
  @IsString()
  @IsDefined({ message: '$property is required' })
  first_name: string;

  @ApiProperty({ example: 'Bar' })
  @MaxLength(200)
  @IsNotEmpty()
  @IsString()
  @IsDefined({ message: '$property is required' })
  last_name: string;

  @ApiPropertyOptional({
    type: [String],
    example: ['https://crm.example.com/wegroup/callback'],
    description: 'URLs to which WeGroup sends webhooks about updates of the lead.',
  })
  @IsUrl(URL_OPTIONS, { each: true, message: 'each value in callbacks must be an http(s) URL' })
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
    description: 'Risk objects by kind (cars, residences …), passed to WeGroup as given.',
  })
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
    description: 'Link back to the CRM record, shown in WeGroup.',
  })
  @MaxLength(2048)
  @IsUrl(URL_OPTIONS, { message: 'backref must be an http(s) URL' })
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
