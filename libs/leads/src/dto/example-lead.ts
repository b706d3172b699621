/**
 * WeGroup's own example of a customer lead: Swagger UI's "Try it out" body, and the base of
 * the tests' and the benchmark's sample leads (test/support/lead-fixtures.ts). No imports,
 * so the benchmark's light kit can bundle it.
 */
export const EXAMPLE_LEAD = {
  origin: 'CRM',
  backref: 'https://crm.example.com/prospects/1',
  prospect: {
    first_name: 'Foo',
    last_name: 'Bar',
    callbacks: ['https://crm.example.com/wegroup/callback'],
    external_ref: { external_ref: '123', external_ref_company: 'company' },
    risk_objects: { cars: [{ vin: 'WBA6L7100LFH65459' }] },
  },
};
