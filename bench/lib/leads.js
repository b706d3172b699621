'use strict';
/**
 * Synthetic leads in WeGroup's customer-lead shape (CreateLeadDto: origin, backref, prospect
 * with the documented fields plus the usual pass-through ones). No real person's data.
 */
const { createCipheriv, createHmac, randomBytes, randomUUID } = require('node:crypto');

/** A car-insurance lead of a typical size (about 1 KB of JSON). */
function leadBody(n) {
  return {
    origin: 'CRM',
    backref: `https://crm.example.com/prospects/${n}`,
    prospect: {
      first_name: 'Foo',
      last_name: 'Bar',
      email: `foo.bar+${n}@example.com`,
      telephonenr: '+32470000000',
      birth: '1990-01-01',
      locale: 'nl-BE',
      address: { street: 'Kerkstraat', housenr: '1', zipcode: '9000', city: 'Gent', country_code: 'BE' },
      callbacks: ['https://crm.example.com/wegroup/callback'],
      external_ref: { external_ref: `bench-${n}`, external_ref_company: 'acme' },
      risk_objects: {
        cars: [
          {
            vin: 'WBA6L7100LFH65459',
            brand: 'BMW',
            model: '3 Series',
            version: '318d',
            first_registration_date: '2020-03-01',
            kw: 110,
            fuel: 'diesel',
            value: 38_500,
            usage: 'private',
            annual_mileage: 15_000,
          },
        ],
        residences: [{ address: { street: 'Kerkstraat', housenr: '1', zipcode: '9000', city: 'Gent' }, building_type: 'house', ownership: 'owner' }],
      },
    },
  };
}

/** A fresh data key in DATA_ENCRYPTION_KEY's `key-id:base64` format, per run, never printed. */
function newDataKey() {
  const key = randomBytes(32);
  return { env: `bench:${key.toString('base64')}`, id: 'bench', key };
}

/** AES-256-GCM, the format of libs/config Keyring.seal (v1.<id>.<iv>.<tag>.<body>). */
function seal(dataKey, plaintext) {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', dataKey.key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', dataKey.id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

/**
 * Job data of the same shape and size as what the intake stores (DeliverLeadJobData, the
 * lead sealed): what the baseline worker's queue is filled with.
 */
function deliveryJobData(dataKey, n, distributionId) {
  const body = leadBody(n);
  const text = JSON.stringify(body);
  return {
    lead_id: randomUUID(),
    source: 'bench',
    distribution_id: distributionId,
    received_at: new Date().toISOString(),
    request_id: randomUUID(),
    sealed_lead: seal(dataKey, text),
    body_hash: createHmac('sha256', dataKey.key).update(text).digest('hex'),
  };
}

module.exports = { leadBody, newDataKey, deliveryJobData };
