/**
 * The one queue leads travel through (its Redis name; the apps inject it as LeadsQueue).
 * Renaming it (or the job name) strands every job already in Redis under the old name:
 * drain the old queue first.
 */
export const LEADS_QUEUE = 'leads';

/** Housekeeping (the retention sweep), scheduled once for all workers by a BullMQ job scheduler. */
export const MAINTENANCE_QUEUE = 'lead-maintenance';
export const SCRUB_DELIVERED_JOB = 'scrub-delivered-pii' as const;

/**
 * Events back to each source's endpoint (lead.delivered, lead.failed …): their own queue, so
 * a slow or dead CRM endpoint never holds a lead's delivery to WeGroup. Renaming it strands
 * the events in Redis, like LEADS_QUEUE.
 */
export const LEAD_EVENTS_QUEUE = 'lead-events';
export const SEND_EVENT_JOB = 'send-event' as const;

/** Job names, typed with their payloads in lead-jobs.ts (LeadJobs). */
export const DELIVER_LEAD_JOB = 'deliver-lead' as const;

/**
 * Every key we and BullMQ write starts with this prefix. The braces are a Redis Cluster
 * hash tag: all keys hash to one slot, so BullMQ's multi-key Lua scripts and ours keep
 * working on a Cluster. Changing QUEUE_PREFIX likewise strands existing jobs.
 */
export function keyPrefix(queuePrefix: string): string {
  return `{${queuePrefix}}`;
}
