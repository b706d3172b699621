export const LEAD_STATUSES = ['queued', 'delivering', 'retrying', 'delivered', 'failed'] as const;
export type LeadStatus = (typeof LEAD_STATUSES)[number];

/**
 * A lead's status is read from its BullMQ job, never kept twice: the job state is the truth,
 * so retries from the dashboard or the API cannot leave the two out of step.
 */
export function leadStatusFromJob(state: string, attemptsMade: number): LeadStatus {
  switch (state) {
    case 'active':
      return 'delivering';
    case 'completed':
      return 'delivered';
    case 'failed':
      return 'failed';
    default:
      // waiting, prioritized, delayed: a job that has already failed once is retrying.
      return attemptsMade > 0 ? 'retrying' : 'queued';
  }
}
