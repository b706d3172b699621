import { randomUUID } from 'node:crypto';
import { EXAMPLE_LEAD } from '@app/leads/dto/example-lead';

/**
 * Sample leads in WeGroup's customer-lead shape (the README's and Swagger's example), for the
 * unit specs, the e2e tests and the benchmark (bundled for it by `npm run build`). No real
 * person's data.
 */
export type LeadFixture = Record<string, any>;

/**
 * The documented example lead. `overrides` replace top-level fields, `prospect` fields of the
 * prospect. Its external_ref is new on every call unless given: without an Idempotency-Key
 * the intake takes it as the lead's idempotency key, so two calls are two leads.
 */
export function lead(overrides: Record<string, unknown> = {}, prospect: Record<string, unknown> = {}): LeadFixture {
  return {
    ...structuredClone(EXAMPLE_LEAD),
    prospect: {
      ...structuredClone(EXAMPLE_LEAD.prospect),
      external_ref: { ...EXAMPLE_LEAD.prospect.external_ref, external_ref: randomUUID() },
      ...prospect,
    },
    ...overrides,
  };
}

/**
 * The same lead at a typical production size (about 1 KB of JSON: contact details, an
 * address, a car and a home), numbered `n` so each is its own lead: the benchmark's load.
 */
export function typicalLead(n: number): LeadFixture {
  const address = { street: 'Kerkstraat', housenr: '1', zipcode: '9000', city: 'Gent' };
  return lead(
    { backref: `https://crm.example.com/prospects/${n}` },
    {
      email: `foo.bar+${n}@example.com`,
      telephonenr: '+32470000000',
      birth: '1990-01-01',
      locale: 'nl-BE',
      address: { ...address, country_code: 'BE' },
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
        residences: [{ address, building_type: 'house', ownership: 'owner' }],
      },
    },
  );
}
