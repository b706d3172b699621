import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Req, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBasicAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { LeadAcceptedDto } from '@app/leads';
import { ApiProblemResponses, ApiProblems } from '../common/problem.dto';
import { BulkEventRetryDto, BulkRetryDto, BulkRetryResultDto, DeliveryStateDto, ErasureResultDto, EventRetriedDto } from './lead-ops.dto';
import { opsUserName, OpsAuthGuard, OpsJsonBody, OpsRole } from './ops-auth.guard';
import type { OpsRequest } from './ops-users';
import { LeadOpsService } from './lead-ops.service';

@ApiTags('ops')
@ApiBasicAuth('ops')
@UseGuards(OpsAuthGuard)
@Controller({ version: '1' })
export class LeadOpsController {
  constructor(private readonly ops: LeadOpsService) {}

  @Post('leads/:id/retry')
  @OpsRole('operator')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({ summary: 'Re-queue one failed lead with a fresh retry schedule (its history is kept)' })
  @ApiAcceptedResponse({ type: LeadAcceptedDto })
  @ApiProblemResponses(ApiProblems.opsUnauthorized, ApiProblems.opsForbidden, ApiProblems.opsLeadNotFound, ApiProblems.notRetryable, ApiProblems.unavailable)
  async retry(@Param('id') id: string, @Req() request: OpsRequest): Promise<LeadAcceptedDto> {
    await this.ops.retry(id, opsUserName(request));
    return { id, status: 'queued' };
  }

  @Delete('leads/:id')
  @OpsRole('operator')
  @ApiOperation({
    summary: "Erase a lead's personal data (GDPR erasure request)",
    description: 'A queued lead is cancelled and removed; a delivered or failed one keeps only its metadata. Says what it removed.',
  })
  @ApiOkResponse({ type: ErasureResultDto })
  @ApiProblemResponses(ApiProblems.opsUnauthorized, ApiProblems.opsForbidden, ApiProblems.opsLeadNotFound, ApiProblems.busy, ApiProblems.unavailable)
  erase(@Param('id') id: string, @Req() request: OpsRequest): Promise<ErasureResultDto> {
    return this.ops.erase(id, opsUserName(request));
  }

  @Post('ops/leads/retry')
  @OpsRole('operator')
  @HttpCode(HttpStatus.OK)
  @OpsJsonBody()
  @ApiOperation({ summary: 'Re-queue failed leads in bulk, filtered by failure reason and time range' })
  @ApiOkResponse({ type: BulkRetryResultDto })
  @ApiProblemResponses(ApiProblems.opsBadRequest, ApiProblems.opsUnauthorized, ApiProblems.opsForbidden, ApiProblems.unavailable)
  retryMany(@Body() filter: BulkRetryDto, @Req() request: OpsRequest): Promise<BulkRetryResultDto> {
    return this.ops.retryMany(filter, opsUserName(request));
  }

  @Post('events/:id/retry')
  @OpsRole('operator')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: "Re-queue one failed event (back to its source's events endpoint) with a fresh retry schedule",
    description: 'The event keeps its id, so the receiver sees the same webhook-id again (and deduplicates it if it had it after all). Its attempt log is kept.',
  })
  @ApiAcceptedResponse({ type: EventRetriedDto })
  @ApiProblemResponses(ApiProblems.opsUnauthorized, ApiProblems.opsEventNotFound, ApiProblems.eventNotRetryable, ApiProblems.unavailable)
  async retryEvent(@Param('id') id: string, @Req() request: OpsRequest): Promise<EventRetriedDto> {
    await this.ops.retryEvent(id, opsUserName(request));
    return { id, state: 'pending' };
  }

  @Post('events/retry')
  @OpsRole('operator')
  @HttpCode(HttpStatus.OK)
  @OpsJsonBody()
  @ApiOperation({ summary: 'Re-queue failed events in bulk, filtered by source, type and time range (newest first)' })
  @ApiOkResponse({ type: BulkRetryResultDto })
  @ApiProblemResponses(ApiProblems.opsBadRequest, ApiProblems.opsUnauthorized, ApiProblems.unavailable)
  retryEvents(@Body() filter: BulkEventRetryDto, @Req() request: OpsRequest): Promise<BulkRetryResultDto> {
    return this.ops.retryEvents(filter, opsUserName(request));
  }

  @Get('ops/delivery')
  @ApiOperation({ summary: 'Delivery state: circuit breaker, rate-limit pause, queue counts' })
  @ApiOkResponse({ type: DeliveryStateDto })
  @ApiProblemResponses(ApiProblems.opsUnauthorized, ApiProblems.unavailable)
  deliveryState(): Promise<DeliveryStateDto> {
    return this.ops.deliveryState();
  }
}
