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
