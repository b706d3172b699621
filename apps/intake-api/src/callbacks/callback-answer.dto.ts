import { ApiProperty } from '@nestjs/swagger';

export class CallbackAnswerDto {
  @ApiProperty({
    enum: ['recorded', 'ignored'],
    example: 'recorded',
    description: '`recorded`: stored on the lead. `ignored`: the lead is unknown here, or its personal data was erased; nothing stored (answered 200 so WeGroup does not retry it).',
  })
  status: 'recorded' | 'ignored';
}
