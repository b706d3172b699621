/**
 * WeGroup's names for the prospect fields its API documents only by example: first_name,
 * last_name, external_ref and risk_objects are published; the names below are NOT. They are
 * the most likely ones, read from what WeGroup's own API shows elsewhere (its prospect views
 * and the address shape of its customer API), and they are kept in this one place so that a
 * correction is a one-line change: every default mapping writes the prospect through these
 * names, and the README says so.
 */
export const WEGROUP_PROSPECT_FIELDS = {
  /** E-mail address. */
  email: 'email',
  /** Phone number, as the platform gives it (WeGroup's spelling: telephonenr). */
  phone: 'telephonenr',
  /** Birth date, `YYYY-MM-DD`. */
  birth: 'birth',
  /** `FR`, `NL` or `EN`. */
  language: 'language',
  /** An object with the WEGROUP_ADDRESS_FIELDS. */
  address: 'address',
  /** An object `{ name }`. */
  company: 'company',
} as const;

/** The address object's members (WeGroup's address shape). */
export const WEGROUP_ADDRESS_FIELDS = {
  street: 'street',
  housenr: 'housenr',
  boxnr: 'boxnr',
  zipcode: 'zipcode',
  city: 'city',
  /** ISO 3166-1 alpha-2, upper case (`BE`). */
  countryCode: 'country_code',
} as const;

/** The languages WeGroup takes. */
export const WEGROUP_LANGUAGES = ['FR', 'NL', 'EN'] as const;
