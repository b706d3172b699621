import { createHmac } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { HttpService } from '@nestjs/axios';
import type { AxiosRequestConfig, AxiosResponse } from 'axios';
import { firstValueFrom } from 'rxjs';
import { SourceFetchError } from '@app/leads';
import { FetchRequest, SourceDefinition } from './source.types';
import { sourcesConfig, SourcesConfig } from './sources.config';

/** Limits of one fetch: the worker waits for it before it can deliver. */
export interface FetchLimits {
  timeoutMs: number;
  /** The answer's body; a contact or a lead is a few KB. */
  maxResponseBytes: number;
}

export const FETCH_LIMITS: FetchLimits = { timeoutMs: 10_000, maxResponseBytes: 1024 * 1024 };

/** The contact properties the HubSpot default mapping reads; a custom mapping's `properties.<name>` are added. */
export const HUBSPOT_CONTACT_PROPERTIES = [
  'firstname',
  'lastname',
  'email',
  'phone',
  'mobilephone',
  'address',
  'city',
  'zip',
  'country',
  'company',
  'date_of_birth',
  'hs_language',
  'hs_object_id',
];

/** The Graph API fields of a lead the mapping input holds. */
const FACEBOOK_LEAD_FIELDS = 'id,created_time,ad_id,form_id,field_data';

const PLATFORM_NAMES: Record<FetchRequest['platform'], string> = { hubspot: 'HubSpot', pipedrive: 'Pipedrive', facebook: 'Facebook Graph' };

/** The HubSpot properties a fetch asks for: the default mapping's, and each `properties.<name>` a custom mapping reads. */
export function hubspotProperties(mapping: string | undefined): string[] {
  const names = new Set(HUBSPOT_CONTACT_PROPERTIES);
  for (const match of (mapping ?? '').matchAll(/properties\s*\.\s*`?([A-Za-z0-9_]{1,100})`?/g)) {
    if (names.size >= 200) break;
    names.add(match[1]);
  }
  return [...names];
}

/** Retry-After (seconds, or an HTTP date) in ms; null when absent or unreadable. */
export function retryAfterMs(value: unknown, now = Date.now()): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string' || text.trim() === '') return null;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * Fetches the record an ids-only event points at: a HubSpot contact (private-app token), a
 * Pipedrive person (API token), a Facebook lead (page token, with appsecret_proof). Every
 * failure is a SourceFetchError: network trouble, timeouts, 5xx, 408 and 429 transient (with
 * the platform's Retry-After), others permanent. Reasons name the platform, the status and
 * the record id: never a token, never the record's data.
 */
@Injectable()
export class SourceRecordFetcher {
  constructor(
    private readonly http: HttpService,
    @Inject(sourcesConfig.KEY) private readonly config: SourcesConfig,
    private readonly limits: FetchLimits = FETCH_LIMITS,
  ) {}

  async fetch(source: SourceDefinition, request: FetchRequest): Promise<unknown> {
    const what = `${request.object} ${request.id}`;
    const platform = PLATFORM_NAMES[request.platform];
    const { url, config } = this.requestFor(source, request, (problem) => {
      throw new SourceFetchError(`${platform} ${what} cannot be fetched: ${problem} (source "${source.name}").`, 'permanent');
    });
    let response: AxiosResponse<unknown>;
    try {
      response = await firstValueFrom(
        this.http.get<unknown>(url, {
          ...config,
          timeout: this.limits.timeoutMs,
          maxContentLength: this.limits.maxResponseBytes,
          maxRedirects: 0,
          responseType: 'json',
          validateStatus: () => true,
        }),
      );
    } catch (error) {
      // The error's own message may hold the URL, with a token in its query: only its code is told.
      const code = (error as { code?: string }).code;
      if (code === 'ERR_BAD_RESPONSE' && /maxContentLength/.test(String((error as Error).message))) {
        throw new SourceFetchError(`${platform} answered more than ${this.limits.maxResponseBytes} bytes for ${what} (source "${source.name}").`, 'permanent', null, null);
      }
      const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT';
      const kind = timedOut ? `no answer within ${this.limits.timeoutMs} ms` : `network error ${code ?? 'unknown'}`;
      throw new SourceFetchError(`${platform} could not be reached for ${what}: ${kind} (source "${source.name}").`, 'transient', null, null);
    }
    const status = response.status;
    if (status >= 200 && status < 300) {
      const body = response.data;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new SourceFetchError(`${platform} answered ${status} for ${what} without a JSON object (source "${source.name}").`, 'permanent', status);
      }
      return body;
    }
    const transient = status >= 500 || status === 429 || status === 408;
    const retryAfter = transient ? retryAfterMs(response.headers?.['retry-after']) : null;
    const hint = status === 401 || status === 403 ? ': check the token and its scopes' : status === 404 || status === 410 ? ': the record does not exist (or not for this token)' : '';
    throw new SourceFetchError(`${platform} answered ${status} for ${what}${hint} (source "${source.name}").`, transient ? 'transient' : 'permanent', status, retryAfter);
  }

  private requestFor(source: SourceDefinition, request: FetchRequest, missing: (problem: string) => never): { url: string; config: AxiosRequestConfig } {
    const id = encodeURIComponent(request.id);
    const credentials = source.credentials;
    switch (request.platform) {
      case 'hubspot': {
        const token = credentials.type === 'hubspot' ? credentials.access_token : undefined;
        if (!token) missing('the source has no access_token (a HubSpot private-app token with crm.objects.contacts.read)');
        const properties = hubspotProperties(source.mapping).join(',');
        return {
          url: `${this.config.hubspotApiUrl}/crm/v3/objects/contacts/${id}?properties=${encodeURIComponent(properties)}`,
          config: { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } },
        };
      }
      case 'pipedrive': {
        const token = credentials.type === 'pipedrive' ? credentials.api_token : undefined;
        if (!token) missing('the source has no api_token');
        return { url: `${this.config.pipedriveApiUrl}/api/v2/persons/${id}`, config: { headers: { 'x-api-token': token, Accept: 'application/json' } } };
      }
      case 'facebook': {
        if (credentials.type !== 'facebook' || !credentials.page_access_token) missing('the source has no page_access_token');
        const { page_access_token, app_secret } = credentials as { page_access_token: string; app_secret: string };
        const proof = createHmac('sha256', app_secret).update(page_access_token).digest('hex');
        return {
          url: `${this.config.facebookGraphUrl}/${id}`,
          config: { params: { fields: FACEBOOK_LEAD_FIELDS, access_token: page_access_token, appsecret_proof: proof }, headers: { Accept: 'application/json' } },
        };
      }
    }
  }
}
