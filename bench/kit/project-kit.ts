/**
 * What the benchmark takes from the project itself instead of copying it: the queue's names
 * and key prefix, the options the intake gives a lead's job, sealing and the body digest, and
 * the sample leads of the tests. `npm run build` bundles this file to dist/bench/project-kit.js
 * (CommonJS) for bench/*.js, which plain node runs. The baselines load it too and their
 * memory is measured: import only light modules here (no Nest, no Redis client).
 */
import { readRetentionConfig, readRetryConfig } from '@app/leads/lead-jobs.settings';
import { deliveryJobOptions } from '@app/leads/delivery-policy';

export { SANDBOX_DEFAULTS } from '@app/wegroup/sandbox-defaults';
export { Keyring } from '@app/config/keyring';
export { DELIVER_LEAD_JOB, keyPrefix, LEADS_QUEUE } from '@app/queue/queue.constants';
export { canonicalJson } from '@app/leads/canonical-json';
export { sealLead } from '@app/leads/lead-sealing';
export { lead, typicalLead } from '../../test/support/lead-fixtures';

/** The options of a lead's job as the intake sets them when the retry and retention variables are not set (the benchmark sets none). */
export function defaultDeliveryJobOptions() {
  return deliveryJobOptions(readRetryConfig({}), readRetentionConfig({}));
}

/**
 * The lead index's own code (Nest and BullMQ come with it), for bench/search.js only: the
 * bundle evaluates it when this is called, so the baselines that load the kit stay light.
 */
export function loadSearchKit(): Promise<typeof import('./search-kit')> {
  return import('./search-kit');
}
