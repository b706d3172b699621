import { Controller, Get } from '@nestjs/common';

@Controller('health')
export class SandboxHealthController {
  @Get()
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
