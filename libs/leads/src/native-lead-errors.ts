import type { FailureKind } from '@app/wegroup/wegroup.errors';

/*
 * Failures of a native lead before WeGroup is called. The delivery policy (delivery-policy.ts)
 * classifies them; neither counts toward WeGroup's circuit breaker: they are not WeGroup's.
 */

/**
 * The platform's record could not be fetched (HubSpot contact, Pipedrive person, Facebook
 * lead). Transient (network, 5xx, 429) is retried on the schedule; permanent (404, 401, no
 * token configured) fails the lead with `reason`, which names the platform, status and record
 * id but no personal data.
 */
export class SourceFetchError extends Error {
  constructor(
    readonly reason: string,
    readonly kind: FailureKind,
    readonly statusCode: number | null = null,
    /** The platform's Retry-After in ms, when it sent one. */
    readonly retryAfterMs: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
    this.name = 'SourceFetchError';
  }
}

/**
 * The source's mapping failed, or its result breaks the lead rules: the lead fails at once,
 * with `reason` naming the fields (never their values). Fixing the mapping and retrying the
 * lead maps it again.
 */
export class LeadMappingError extends Error {
  constructor(
    readonly reason: string,
    readonly problems: Array<{ field: string; message: string }> = [],
  ) {
    super(reason);
    this.name = 'LeadMappingError';
  }
}
