import { Controller, HttpCode, HttpStatus, Param, Post, RawBodyRequest, Req } from '@nestjs/common';
import { ApiConsumes, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponses } from '../common/problem.dto';
import type { FastifyRequest } from 'fastify';
import { CallbackAnswerDto } from './callback-answer.dto';
import { CallbackProblems } from './callback.problems';
import { WeGroupCallbacksService } from './wegroup-callbacks.service';

@ApiTags('callbacks')
@Controller({ path: 'callbacks/wegroup', version: '1' })
export class WeGroupCallbacksController {
  constructor(private readonly callbacks: WeGroupCallbacksService) {}

  @Post(':leadId/:token')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: "Take WeGroup's callback about a lead",
    description:
      "Not called by CRMs: with PUBLIC_BASE_URL set, the worker adds this URL (with the lead's token) to each lead's `prospect.callbacks` as it pushes it to WeGroup, after the CRM's own URLs, and WeGroup posts its updates of the lead here. " +
      'WeGroup signs nothing, so the token is the only proof: an HMAC of the lead id under a key derived from DATA_ENCRYPTION_KEY (URLs made under a key in DATA_ENCRYPTION_OLD_KEYS stay valid), checked before the body is read. ' +
      'Any content type, up to 64 KB. The callback is stored sealed on the lead (the latest 50; removed with its personal data), shown in GET /v1/leads/{id} as `callbacks_received`, and forwarded to the source as a `lead.updated` event. ' +
      'A callback for a lead unknown here, or whose personal data was erased, is answered 200 `ignored` (WeGroup must not retry it) and dropped.',
  })
  @ApiParam({ name: 'leadId', description: 'Our id of the lead.', example: '6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10' })
  @ApiParam({ name: 'token', description: "The lead's callback token (43 base64url characters).", example: 'q3Jd0rP5o1m3R9WcZ2x8hQ7nV4bK6tY1uE0sA5fL2gI' })
  @ApiConsumes('application/json', 'application/x-www-form-urlencoded', 'text/plain', '*/*')
  @ApiOkResponse({ type: CallbackAnswerDto, description: 'Recorded on the lead, or ignored (unknown or erased lead).' })
  @ApiProblemResponses(CallbackProblems.badBody, CallbackProblems.unauthorized, CallbackProblems.tooLarge, CallbackProblems.tooManyRequests, CallbackProblems.unavailable)
  receive(@Param('leadId') leadId: string, @Param('token') token: string, @Req() request: RawBodyRequest<FastifyRequest>): Promise<CallbackAnswerDto> {
    return this.callbacks.receive(leadId, token, request);
  }
}
