import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, Put, Query } from '@nestjs/common';
import { badRequest, distributionFilter, parseBehaviour, parseFaultRule, parseTokenRegistration } from './control-body.validator';
import { isValidToken, type TokenScheme } from './sandbox-options';
import { SandboxStateService } from './sandbox-state.service';
import type { CreatedLead, FaultRule, RecordedRequest } from './sandbox.types';

interface Behaviour {
  delay_ms: number;
  max_records: number;
  callbacks: string[];
  callback_delay_ms: number;
}

/** Test/demo control plane. No auth: the sandbox is a local tool. */
@Controller('_sandbox')
export class SandboxControlController {
  constructor(private readonly state: SandboxStateService) {}

  @Post('faults')
  @HttpCode(201)
  addFault(@Body() body: unknown): FaultRule {
    return this.state.addFault(parseFaultRule(body));
  }

  @Get('faults')
  listFaults(): { faults: FaultRule[] } {
    return { faults: this.state.listFaults() };
  }

  @Delete('faults')
  deleteFaults(@Query('distribution_id') distributionId?: unknown): { deleted: number } {
    return { deleted: this.state.deleteFaults(distributionFilter(distributionId)) };
  }

  @Get('behaviour')
  behaviour(): Behaviour {
    return { delay_ms: this.state.delayMs, max_records: this.state.maxRecords, callbacks: [...this.state.callbacks], callback_delay_ms: this.state.callbackDelayMs };
  }

  @Put('behaviour')
  setBehaviour(@Body() body: unknown): Behaviour {
    const change = parseBehaviour(body);
    if (change.delay_ms !== undefined) this.state.setDelayMs(change.delay_ms);
    if (change.callbacks !== undefined || change.callback_delay_ms !== undefined) {
      this.state.setCallbacks(change.callbacks ?? this.state.callbacks, change.callback_delay_ms ?? this.state.callbackDelayMs);
    }
    return this.behaviour();
  }

  @Get('requests')
  listRequests(@Query('distribution_id') distributionId?: unknown): { requests: RecordedRequest[] } {
    return { requests: this.state.listRequests(distributionFilter(distributionId)) };
  }

  @Delete('requests')
  deleteRequests(@Query('distribution_id') distributionId?: unknown): { deleted: number } {
    return { deleted: this.state.deleteRequests(distributionFilter(distributionId)) };
  }

  @Get('leads')
  listLeads(@Query('distribution_id') distributionId?: unknown): { leads: CreatedLead[] } {
    return { leads: this.state.listLeads(distributionFilter(distributionId)) };
  }

  @Delete('leads')
  deleteLeads(@Query('distribution_id') distributionId?: unknown): { deleted: number } {
    return { deleted: this.state.deleteLeads(distributionFilter(distributionId)) };
  }

  @Post('tokens')
  @HttpCode(201)
  addToken(@Body() body: unknown): { scheme: TokenScheme; scopes: string[] } {
    const registration = parseTokenRegistration(body);
    this.state.setToken(registration.scheme, registration.token, registration.scopes);
    return { scheme: registration.scheme, scopes: registration.scopes };
  }

  /** Removes the token from both schemes, or only from `?scheme=apikey|bearer`. */
  @Delete('tokens/:token')
  deleteToken(@Param('token') token: string, @Query('scheme') scheme?: unknown): { deleted: number } {
    if (scheme !== undefined && scheme !== 'apikey' && scheme !== 'bearer') throw badRequest(['scheme must be "apikey" or "bearer"']);
    if (!isValidToken(token)) throw badRequest(['token must be a non-empty string without spaces, ",", "=" or "|"']);
    const deleted = this.state.deleteToken(token, scheme as TokenScheme | undefined);
    if (deleted === 0) throw new NotFoundException({ detail: 'Unknown token.' });
    return { deleted };
  }
}
