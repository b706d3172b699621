import { ApiProperty } from '@nestjs/swagger';

export class ConnectionUserDto {
  @ApiProperty({ nullable: true, type: String }) uid: string | null;
  @ApiProperty({ nullable: true, type: String }) email: string | null;
  @ApiProperty({ nullable: true, type: String }) username: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'broker' }) role: string | null;
}

export class ConnectionFeatureDto {
  @ApiProperty({ example: 'push_leads' }) feature: string;
  @ApiProperty({ example: 'leads:write' }) scope: string;
  @ApiProperty() enabled: boolean;
  @ApiProperty() description: string;
}

export class ConnectionDto {
  @ApiProperty() id: string;
  @ApiProperty({ description: 'The `did` claim of /userinfo.' }) distribution_id: string;
  @ApiProperty({ nullable: true, type: String, description: 'The `bid` claim.' }) broker_id: string | null;
  @ApiProperty({ type: ConnectionUserDto }) user: ConnectionUserDto;
  @ApiProperty({ type: [String], example: ['openid', 'offline', 'leads:write'] }) scopes: string[];
  @ApiProperty({ type: [String], description: 'Granted on paper, refused by WeGroup (403).' }) denied_scopes: string[];
  @ApiProperty({ type: [ConnectionFeatureDto] }) features: ConnectionFeatureDto[];
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) access_expires_at: string | null;
  @ApiProperty() has_refresh_token: boolean;
  @ApiProperty({ enum: ['active', 'needs_reauth'] }) status: string;
  @ApiProperty({ nullable: true, type: String }) last_error: string | null;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ format: 'date-time' }) updated_at: string;
}
