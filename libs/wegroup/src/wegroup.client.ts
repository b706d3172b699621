import { HttpService } from '@nestjs/axios';
import { Injectable } from '@nestjs/common';
import { AxiosError } from 'axios';
import { authorizationHeader, WeGroupCredentials } from './auth/wegroup-auth';
import { leadEndpoint } from './hosts';
import { grants, PUSH_LEAD_SCOPE } from './scopes';
import { describeNetworkError, describeStatus, parseRetryAfter, truncate, WeGroupError } from './wegroup.errors';

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

export interface PushLeadOptions {
  /** Sent as `X-Request-ID`, so a lead can be followed from the intake into WeGroup's logs. */
  requestId?: string;
  /** Called when the HTTP exchange ends: WeGroup's status (null: no answer) and how long it took. */
  onResponse?: (statusCode: number | null, durationMs: number) => void;
}

@Injectable()
export class WeGroupClient {
  constructor(private readonly http: HttpService) {}

  /**
   * Pushes one lead. Resolves on 2xx; otherwise throws a WeGroupError (the delivery policy classifies it). The scope
   * is checked first so a token that cannot push leads never reaches WeGroup.
   */
  async pushLead(
    apiUrl: string,
    distributionId: string,
    body: unknown,
    credentials: WeGroupCredentials,
    options: PushLeadOptions = {},
  ): Promise<PushLeadResult> {
    if (!grants(credentials.scopes, PUSH_LEAD_SCOPE)) {
      throw new WeGroupError(
        `Missing scope ${PUSH_LEAD_SCOPE}: ${credentials.label} has [${credentials.scopes.join(', ')}], and pushing a lead needs ${PUSH_LEAD_SCOPE}. WeGroup was not called.`,
        'permanent',
      );
    }
    let status: number;
    let text: string | null;
    let retryAfter: string | undefined;
    const started = performance.now();
    try {
      // The axios instance itself, not HttpService's Observable wrapper: that one gives every
      // request a CancelToken and cancels it once answered, building a CanceledError (with its
      // stack) per delivery, about 5% of the worker's CPU under load.
      const response = await this.http.axiosRef.post<string>(leadEndpoint(apiUrl, distributionId), body, {
        headers: {
          Authorization: authorizationHeader(credentials),
          'Content-Type': 'application/json',
          Accept: 'application/json',
          ...(options.requestId ? { 'X-Request-ID': options.requestId } : {}),
        },
      });
      status = response.status;
      options.onResponse?.(status, performance.now() - started);
      retryAfter = response.headers?.['retry-after'] as string | undefined;
      text = truncate(typeof response.data === 'string' ? response.data : JSON.stringify(response.data));
    } catch (error) {
      const axiosError = error as AxiosError;
      options.onResponse?.(null, performance.now() - started);
      throw new WeGroupError(describeNetworkError(axiosError.code, axiosError.message), 'transient');
    }
    if (status >= 200 && status < 300) return { statusCode: status, leadId: extractLeadId(text), body: text };
    throw new WeGroupError(
      describeStatus(status, text, credentials.scheme),
      null,
      status,
      text,
      parseRetryAfter(retryAfter),
      describeStatus(status, null, credentials.scheme),
    );
  }
}
