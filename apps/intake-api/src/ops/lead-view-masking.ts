import type { LeadStatusDto } from '@app/leads';
import { HIDDEN_FOR_VIEWER } from './ops-users';

/** Fields of a log entry that carry WeGroup's or a platform's own words, which may echo the prospect. */
const WORDS_FROM_OUTSIDE = ['error', 'body', 'stack'] as const;

/**
 * A lead's view as a viewer reads it: everything but what WeGroup or a platform answered
 * (WeGroup's response body, each attempt's error and body, any stack, its callbacks' bodies), which may quote the
 * prospect's data back; each is replaced with HIDDEN_FOR_VIEWER so the viewer sees that there
 * is something an operator can read. `last_error` becomes the job's failure reason, the
 * summary written to hold no lead data, or the note when there is none (a hold's reason is
 * ours and stays).
 */
export function leadViewForViewer(view: LeadStatusDto, failedReason: string | null): LeadStatusDto {
  const held = view.attempts_log.at(-1)?.kind === 'held';
  return {
    ...view,
    last_error: view.last_error === null || held ? view.last_error : failedReason || HIDDEN_FOR_VIEWER,
    wegroup: view.wegroup && { ...view.wegroup, body: view.wegroup.body === null ? null : HIDDEN_FOR_VIEWER },
    // WeGroup's callbacks are kept whole, whatever of the prospect they carry.
    callbacks_received: view.callbacks_received.map((callback) => ({ ...callback, body: callback.body === null ? null : HIDDEN_FOR_VIEWER })),
    attempts_log: view.attempts_log.map((entry) => {
      const masked: Record<string, unknown> = { ...entry };
      for (const field of WORDS_FROM_OUTSIDE) if (masked[field] !== undefined && masked[field] !== null) masked[field] = HIDDEN_FOR_VIEWER;
      return masked as unknown as typeof entry;
    }),
  };
}
