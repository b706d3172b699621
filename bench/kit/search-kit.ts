/**
 * What the search benchmark (bench/search.js) takes from the project: the index's reads
 * (LeadIndex) and the writes the lead repository sends with each change (LeadIndexLayout),
 * so the seeded index is the one the apps write and the searches are the console's.
 * Loaded lazily through project-kit.ts (loadSearchKit).
 */
export { LeadIndex } from '@app/leads/lead-index';
export { defineIndexScripts, LeadIndexLayout, queueIndexScript } from '@app/leads/lead-index.layout';
export { LeadsQueue } from '@app/queue/lead-jobs';
export { readRetentionConfig } from '@app/leads/lead-jobs.settings';
