import { HttpService } from '@nestjs/axios';
import { Injectable } from '@nestjs/common';
import { AxiosError } from 'axios';
import { firstValueFrom } from 'rxjs';
import { authorizationHeader, WeGroupCredentials } from './auth/wegroup-auth';
import { leadEndpoint } from './hosts';
import { grants, PUSH_LEAD_SCOPE } from './scopes';
import { classifyStatus, describeNetworkError, describeStatus, parseRetryAfter, truncate, WeGroupError } from './wegroup.errors';

export interface PushLeadResult {
  statusCode: number;
  /** The id WeGroup gave the lead, when its answer carries one. */
  leadId: string | null;
  body: string | null;
}

/** WeGroup's success body is not documented; accept the id under the names it plausibly uses. */
export function extractLeadId(body: string | null): string | null {
  if (!body) return null;
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    for (const candidate of [parsed?.id, parsed?.lead_id, (parsed?.lead as Record<string, unknown> | undefined)?.id]) {
      if (typeof candidate === 'string' || typeof candidate === 'number') return String(candidate);
    }
  } catch {
    // not JSON: keep the body only
  }
  return null;
}

@Injectable()
export class WeGroupClient {
  constructor(private readonly http: HttpService) {}

  /**
   * Pushes one lead. Resolves on 2xx; otherwise throws a classified WeGroupError. The scope
   * is checked first so a token that cannot push leads never reaches WeGroup.
   */
  async pushLead(apiUrl: string, distributionId: string, body: unknown, credentials: WeGroupCredentials): Promise<PushLeadResult> {
    if (!grants(credentials.scopes, PUSH_LEAD_SCOPE)) {
      throw new WeGroupError(
        `Missing scope ${PUSH_LEAD_SCOPE}: ${credentials.label} has [${credentials.scopes.join(', ')}], and pushing a lead needs ${PUSH_LEAD_SCOPE}. WeGroup was not called.`,
        'permanent',
      );
    }
    let status: number;
    let text: string | null;
    let retryAfter: string | undefined;
    try {
      const response = await firstValueFrom(
        this.http.post<string>(leadEndpoint(apiUrl, distributionId), body, {
          headers: { Authorization: authorizationHeader(credentials), 'Content-Type': 'application/json', Accept: 'application/json' },
        }),
      );
      status = response.status;
      retryAfter = response.headers?.['retry-after'] as string | undefined;
      text = truncate(typeof response.data === 'string' ? response.data : JSON.stringify(response.data));
    } catch (error) {
      const axiosError = error as AxiosError;
      throw new WeGroupError(describeNetworkError(axiosError.code, axiosError.message), 'transient');
    }
    const kind = classifyStatus(status);
    if (kind === 'delivered') return { statusCode: status, leadId: extractLeadId(text), body: text };
    throw new WeGroupError(describeStatus(status, text, credentials.scheme), kind, status, text, parseRetryAfter(retryAfter));
  }
}
