import type { CallbackReceivedDto, LeadEventViewDto, LeadStatusDto } from './dto/lead-views.dto';
import type { AttemptRecord } from './lead-job';
import type { CallbackRecord, LeadRecord } from './lead.repository';

/** `waiting_reauth`: the lead's SSO connection needs the broker to sign in again; it waits. */
export const LEAD_STATUSES = ['queued', 'delivering', 'retrying', 'waiting_reauth', 'delivered', 'failed'] as const;
export type LeadStatus = (typeof LEAD_STATUSES)[number];

/**
 * A lead's status is read from its BullMQ job, never kept twice: the job state is the truth,
 * so retries from the dashboard or the API cannot leave the two out of step.
 */
export function leadStatusFromJob(state: string, attempted: boolean, heldForSignIn = false): LeadStatus {
  switch (state) {
    case 'active':
      return 'delivering';
    case 'completed':
      return 'delivered';
    case 'failed':
      return 'failed';
    default:
      // waiting, prioritized, delayed: a lead that has been tried before is retrying.
      if (heldForSignIn) return 'waiting_reauth';
      return attempted ? 'retrying' : 'queued';
  }
}

/** What GET /v1/leads/{id} shows of a lead's record, with its events as @app/events reads them. */
export function leadStatusView(record: LeadRecord, events: LeadEventViewDto[] = []): LeadStatusDto {
  const { id, data, log, result } = record;
  const attemptsLog = log.filter((entry): entry is AttemptRecord => entry.kind === 'attempt');
  const last = attemptsLog.at(-1);
  const latest = log.at(-1);
  const held = latest?.kind === 'held' ? latest : null;
  const status = leadStatusFromJob(record.state, record.attemptsMade > 0 || attemptsLog.length > 0, held !== null);
  const lastAt = latest ? Date.parse(latest.at) : 0;
  const waiting = (status === 'retrying' || status === 'queued') && last?.next_delay_ms != null;
  const nextAttempt = held ? held.until : waiting ? new Date(Date.parse(last!.at) + last!.duration_ms + last!.next_delay_ms!).toISOString() : null;
  return {
    id,
    status,
    attempts: record.attemptsMade,
    source: data.source,
    distribution_id: data.distribution_id,
    created_at: data.received_at,
    updated_at: new Date(Math.max(record.storedAt, record.processedAt ?? 0, record.finishedAt ?? 0, lastAt)).toISOString(),
    delivered_at: status === 'delivered' && record.finishedAt ? new Date(record.finishedAt).toISOString() : null,
    next_attempt_at: nextAttempt,
    // The sealed log has WeGroup's own words; the job's failure reason only a summary.
    last_error: status === 'delivered' ? null : ((held?.reason ?? last?.error ?? record.failedReason) || null),
    wegroup: result
      ? { status_code: result.status_code, lead_id: result.lead_id, body: last?.outcome === 'delivered' ? last.body : null }
      : last?.status_code
        ? { status_code: last.status_code, lead_id: null, body: last.body }
        : null,
    personal_data_erased_at: data.lead_erased_at ?? null,
    attempts_log: log,
    callbacks_received: record.callbacks.map(callbackView),
    // Which event a native lead came from; never the event (personal data, and sealed at rest).
    ...(data.native ? { native: { type: data.native.type, event_id: data.native.event_id } } : {}),
    events,
  };
}

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

/** A callback as shown: a JSON body parsed (as WeGroup sent it), any other body as its text. */
export function callbackView({ received_at, content_type, body }: CallbackRecord): CallbackReceivedDto {
  if (content_type !== null && JSON_TYPE.test(content_type)) {
    try {
      return { received_at, content_type, body: JSON.parse(body) as unknown };
    } catch {
      // Stored as received; shown as the text it is.
    }
  }
  return { received_at, content_type, body };
}
