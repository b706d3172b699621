import { Controller, Delete, Get, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBasicAuth, ApiExcludeEndpoint, ApiFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiProblemResponses, ApiProblems } from '../common/problem.dto';
import { opsUserName, OpsAuthGuard, OpsRole } from '../ops/ops-auth.guard';
import { connectedPage, connectionPage } from './connection-page';
import { ConnectionDto } from './connection.dto';
import { SignInError, SsoConnectionsService } from './sso-connections.service';

@ApiTags('connections')
@Controller({ path: 'connections', version: '1' })
export class SsoConnectionsController {
  constructor(private readonly connections: SsoConnectionsService) {}

  @Get('sso/start')
  @UseGuards(OpsAuthGuard)
  @OpsRole('operator')
  @ApiBasicAuth('ops')
  @ApiOperation({
    summary: 'Connect a WeGroup account (SSO)',
    description: "Redirects to WeGroup's sign-in (Authorization Code + PKCE). Open it in a browser; the broker signs in and consents.",
  })
  @ApiFoundResponse({ description: "Redirect to WeGroup's authorization endpoint." })
  @ApiProblemResponses(ApiProblems.opsUnauthorized, ApiProblems.opsForbidden, ApiProblems.ssoNotConfigured, ApiProblems.signInUnreachable, ApiProblems.unavailable)
  async start(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const location = await this.connections.start(opsUserName(request));
    void reply.status(302).header('Location', location).header('Cache-Control', 'no-store').send();
  }

  /** WeGroup sends the browser back here; the state, not a login, protects it. */
  @Get('sso/callback')
  @ApiExcludeEndpoint()
  async callback(@Query() query: Record<string, string | undefined>, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const rawQuery = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    void reply.header('Content-Type', 'text/html; charset=utf-8').header('Cache-Control', 'no-store');
    try {
      const connection = await this.connections.complete(query, rawQuery);
      void reply.status(200).send(connectedPage(connection));
    } catch (error) {
      if (!(error instanceof SignInError)) throw error;
      void reply.status(400).send(connectionPage('WeGroup sign-in not completed', [error.message], false));
    }
  }

  @Get()
  @UseGuards(OpsAuthGuard)
  @ApiBasicAuth('ops')
  @ApiOperation({ summary: 'SSO connections, with granted scopes and the features they enable (never tokens)' })
  @ApiOkResponse({ type: [ConnectionDto] })
  @ApiProblemResponses(ApiProblems.opsUnauthorized, ApiProblems.ssoNotConfigured, ApiProblems.unavailable)
  list() {
    return this.connections.list();
  }

  @Get(':id')
  @UseGuards(OpsAuthGuard)
  @ApiBasicAuth('ops')
  @ApiOperation({ summary: 'One SSO connection' })
  @ApiOkResponse({ type: ConnectionDto })
  @ApiProblemResponses(ApiProblems.opsUnauthorized, ApiProblems.connectionNotFound, ApiProblems.unavailable)
  get(@Param('id') id: string) {
    return this.connections.get(id);
  }

  @Delete(':id')
  @UseGuards(OpsAuthGuard)
  @OpsRole('operator')
  @ApiBasicAuth('ops')
  @ApiOperation({ summary: 'Forget an SSO connection and its tokens' })
  @ApiOkResponse({ type: ConnectionDto, description: 'The connection that was deleted.' })
  @ApiProblemResponses(ApiProblems.opsUnauthorized, ApiProblems.opsForbidden, ApiProblems.connectionNotFound, ApiProblems.unavailable)
  delete(@Param('id') id: string, @Req() request: FastifyRequest) {
    return this.connections.delete(id, opsUserName(request));
  }
}
