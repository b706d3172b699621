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

/**
 * What the bare delivery worker is given: the lead as its producer would queue it (not
 * sealed), with the distribution it goes to.
 */
function plainJobData(n, distributionId) {
  return { distribution_id: distributionId, body: typicalLead(n) };
}

/**
 * A CRM's own webhook body for the native hook (`POST /v1/hooks/{source}` of a `json` source
 * with a mapping, HOOK_SOURCE_MAPPING): a contact as a CRM sends it, about the size of a lead.
 */
function nativeHookBody(n) {
  const lead = typicalLead(n);
  const { prospect } = lead;
  return {
    event: 'contact.created',
    occurred_at: '2026-11-20T10:00:00Z',
    contact: {
      id: prospect.external_ref.external_ref,
      firstName: prospect.first_name,
      lastName: prospect.last_name,
      email: prospect.email,
      phone: prospect.telephonenr,
      birthDate: prospect.birth,
      locale: prospect.locale,
      address: prospect.address,
      url: lead.backref,
    },
    vehicle: prospect.risk_objects.cars[0],
  };
}

/** The `json` source's JSONata mapping of nativeHookBody (it runs in the worker; the intake only compiles it). */
const HOOK_SOURCE_MAPPING = `{
  "origin": "bench-crm",
  "backref": contact.url,
  "prospect": {
    "first_name": contact.firstName,
    "last_name": contact.lastName,
    "email": contact.email,
    "telephonenr": contact.phone,
    "birth": contact.birthDate,
    "address": contact.address,
    "external_ref": { "external_ref": contact.id, "external_ref_company": "bench-crm" },
    "risk_objects": { "cars": [vehicle] }
  }
}`;

/** A car-insurance lead of a typical size (about 1 KB of JSON), the n-th of a run. */
module.exports = { leadBody: typicalLead, newDataKey, deliveryJobData, plainJobData, nativeHookBody, HOOK_SOURCE_MAPPING };
