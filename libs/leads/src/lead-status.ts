export const LEAD_STATUSES = ['queued', 'delivering', 'retrying', 'delivered', 'failed'] as const;
export type LeadStatus = (typeof LEAD_STATUSES)[number];

/**
 * A lead's status is read from its BullMQ job, never kept twice: the job state is the truth,
 * so retries from the dashboard or the API cannot leave the two out of step.
 */
export function leadStatusFromJob(state: string, attempted: boolean): LeadStatus {
  switch (state) {
    case 'active':
      return 'delivering';
    case 'completed':
      return 'delivered';
    case 'failed':
      return 'failed';
    default:
      // waiting, prioritized, delayed: a lead that has been tried before is retrying.
      return attempted ? 'retrying' : 'queued';
  }
}
