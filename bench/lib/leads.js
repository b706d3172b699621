'use strict';
/**
 * Leads for the load and the baseline's backlog: the tests' sample leads (test/support/lead-fixtures.ts),
 * sealed and digested as the intake does. No real person's data.
 */
const { randomBytes, randomUUID } = require('node:crypto');
const { Keyring, canonicalJson, sealLead, typicalLead } = require('./project');

/** A fresh data key in DATA_ENCRYPTION_KEY's `key-id:base64` format, per run, never printed. */
function newDataKey() {
  const key = randomBytes(32);
  return { env: `bench:${key.toString('base64')}`, keyring: new Keyring({ id: 'bench', key }) };
}

/**
 * Job data of the same shape and size as what the intake stores (DeliverLeadJobData, the
 * lead sealed): what the baseline worker's queue is filled with.
 */
function deliveryJobData(dataKey, n, distributionId) {
  const body = typicalLead(n);
  return {
    lead_id: randomUUID(),
    source: 'bench',
    distribution_id: distributionId,
    received_at: new Date().toISOString(),
    request_id: randomUUID(),
    sealed_lead: sealLead(dataKey.keyring, body),
    body_hash: dataKey.keyring.digest(canonicalJson(body)),
  };
}

/** A car-insurance lead of a typical size (about 1 KB of JSON), the n-th of a run. */
module.exports = { leadBody: typicalLead, newDataKey, deliveryJobData };
