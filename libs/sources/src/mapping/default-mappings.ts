import { SourceType } from '../source.types';
import { WEGROUP_ADDRESS_FIELDS as A, WEGROUP_PROSPECT_FIELDS as P } from './wegroup-prospect-fields';

/*
 * The default mapping of each type, in JSONata, read against the type's mapping input
 * (documented in the README, built by the adapters' mappingInput). Each type's part names the
 * platform's standard fields as a neutral contact; LEAD builds WeGroup's lead from it with
 * the names of wegroup-prospect-fields.ts. Bindings every mapping gets: $origin (the source's
 * origin, or the platform's name), $platform, $source (the source's name).
 * A field the platform lacks is left out: the helpers answer undefined for empty values.
 */

/** The neutral contact → WeGroup's lead. `$c` is the contact. */
const LEAD = `{
  "origin": $origin,
  "backref": $c.backref,
  "prospect": $compact({
    "first_name": $c.first_name,
    "last_name": $c.last_name,
    "${P.email}": $c.email,
    "${P.phone}": $c.phone,
    "${P.birth}": $c.birth,
    "${P.language}": $c.language,
    "${P.address}": $compact({
      "${A.street}": $c.street,
      "${A.housenr}": $c.housenr,
      "${A.boxnr}": $c.boxnr,
      "${A.zipcode}": $c.zipcode,
      "${A.city}": $c.city,
      "${A.countryCode}": $c.country_code
    }),
    "${P.company}": $compact({ "name": $c.company }),
    "external_ref": $c.record_id ? { "external_ref": $c.record_id, "external_ref_company": $platform }
  })
}`;

/** Street, house number and box: from separate fields when the platform has them, else split from one line. */
const ADDRESS_PARTS = (line: string, housenr = '()', boxnr = '()') => `(
  $parts := $streetParts(${line});
  $h := $text(${housenr});
  $h ? { "street": $text(${line}), "housenr": $h, "boxnr": $text(${boxnr}) } : $parts
)`;

const HUBSPOT = `(
  $p := record.properties;
  $id := $text(record.id);
  $portal := $first([event.portalId, event.\`portal-id\`, $p.hs_portal_id]);
  $street := ${ADDRESS_PARTS('$p.address')};
  {
    "record_id": $id,
    "backref": $portal and $id ? "https://app.hubspot.com/contacts/" & $portal & "/record/0-1/" & $id,
    "first_name": $text($p.firstname),
    "last_name": $text($p.lastname),
    "email": $text($p.email),
    "phone": $first([$p.phone, $p.mobilephone]),
    "birth": $isoDate($first([$p.date_of_birth, $p.birthdate, $p.birthday])),
    "language": $language($p.hs_language),
    "street": $street.street,
    "housenr": $street.housenr,
    "boxnr": $street.boxnr,
    "zipcode": $text($p.zip),
    "city": $text($p.city),
    "country_code": $countryCode($p.country),
    "company": $text($p.company)
  }
)`;

const PIPEDRIVE = `(
  $host := $text(event.meta.host);
  $id := $text(person.id);
  $a := person.postal_address;
  $street := ${ADDRESS_PARTS('$first([$a.route, $a.value])', '$a.street_number', '$a.subpremise')};
  {
    "record_id": $id,
    "backref": $host and $id and $contains($host, /^[a-z0-9-]+\\.pipedrive\\.com$/) ? "https://" & $host & "/person/" & $id,
    "first_name": $text(person.first_name),
    "last_name": $text(person.last_name),
    "email": $first([person.emails[primary = true].value, person.emails.value, person.email[primary = true].value, person.email.value]),
    "phone": $first([person.phones[primary = true].value, person.phones.value, person.phone[primary = true].value, person.phone.value]),
    "birth": $isoDate($first([person.birthday, person.birth_date])),
    "street": $street.street,
    "housenr": $street.housenr,
    "boxnr": $street.boxnr,
    "zipcode": $text($a.postal_code),
    "city": $text($a.locality),
    "country_code": $countryCode($a.country),
    "company": $first([person.org_name, person.org_id.name])
  }
)`;

const SALESFORCE = `(
  $r := record;
  $id := $text($r.Id);
  $contact := object_type = "Contact";
  $line := $contact ? $r.MailingStreet : $r.Street;
  $street := ${ADDRESS_PARTS('$line')};
  {
    "record_id": $id,
    "backref": $id ? ($text(instance_url) ? instance_url : "https://login.salesforce.com") & "/" & $id,
    "first_name": $text($r.FirstName),
    "last_name": $text($r.LastName),
    "email": $text($r.Email),
    "phone": $first([$r.Phone, $r.MobilePhone]),
    "birth": $isoDate($r.Birthdate),
    "street": $street.street,
    "housenr": $street.housenr,
    "boxnr": $street.boxnr,
    "zipcode": $text($contact ? $r.MailingPostalCode : $r.PostalCode),
    "city": $text($contact ? $r.MailingCity : $r.City),
    "country_code": $contact ? $countryCode($first([$r.MailingCountryCode, $r.MailingCountry])) : $countryCode($first([$r.CountryCode, $r.Country])),
    "company": $text($r.Company)
  }
)`;

/** Typeform answers are keyed by the field's ref, which the form's author chooses: the usual names, then the answer types. */
const TYPEFORM = `(
  $a := $merge([hidden, answers]);
  $all := event.form_response.answers;
  $street := ${ADDRESS_PARTS('$pick($a, ["street", "address", "street_address"])', '$pick($a, ["housenr", "house_number"])', '$pick($a, ["boxnr", "box"])')};
  $name := $splitName($pick($a, ["full_name", "name"]));
  {
    "record_id": $text(event.form_response.token),
    "first_name": $first([$pick($a, ["first_name", "firstname", "voornaam", "prenom"]), $name.first_name]),
    "last_name": $first([$pick($a, ["last_name", "lastname", "surname", "achternaam", "naam", "nom"]), $name.last_name]),
    "email": $first([$pick($a, ["email", "e_mail", "email_address"]), $all[type = "email"].email]),
    "phone": $first([$pick($a, ["phone", "phone_number", "telephone", "telefoon", "mobile"]), $all[type = "phone_number"].phone_number]),
    "birth": $isoDate($pick($a, ["birth", "birth_date", "birthdate", "date_of_birth"])),
    "language": $language($pick($a, ["language", "lang", "locale", "taal", "langue"])),
    "street": $street.street,
    "housenr": $street.housenr,
    "boxnr": $street.boxnr,
    "zipcode": $pick($a, ["zipcode", "zip", "postal_code", "postcode"]),
    "city": $pick($a, ["city", "gemeente", "ville"]),
    "country_code": $countryCode($pick($a, ["country_code", "country"])),
    "company": $pick($a, ["company", "company_name"])
  }
)`;

/** Facebook's standard lead-form questions (field_data names); a form with full_name only is split at the first space. */
const FACEBOOK = `(
  $f := fields;
  $name := $splitName($f.full_name);
  $street := ${ADDRESS_PARTS('$f.street_address')};
  {
    "record_id": $first([lead.id, change.leadgen_id]),
    "first_name": $first([$f.first_name, $name.first_name]),
    "last_name": $first([$f.last_name, $name.last_name]),
    "email": $text($f.email),
    "phone": $text($f.phone_number),
    "birth": $isoDate($f.date_of_birth, "MDY"),
    "street": $street.street,
    "housenr": $street.housenr,
    "boxnr": $street.boxnr,
    "zipcode": $first([$f.post_code, $f.zip_code, $f.zip]),
    "city": $text($f.city),
    "country_code": $countryCode($f.country),
    "company": $text($f.company_name)
  }
)`;

/** Zoho webhooks send the fields the user picked, named as the user chose: Zoho's API names first, then the usual ones. */
const ZOHO = `(
  $e := event;
  $street := ${ADDRESS_PARTS('$pick($e, ["Street", "Mailing_Street", "street"])', '$pick($e, ["housenr", "House_Number"])', '$pick($e, ["boxnr", "Box"])')};
  {
    "record_id": $pick($e, ["id", "record_id"]),
    "backref": $pick($e, ["backref", "record_url", "url"]),
    "first_name": $pick($e, ["First_Name", "firstname"]),
    "last_name": $pick($e, ["Last_Name", "lastname"]),
    "email": $pick($e, ["Email", "email_address"]),
    "phone": $pick($e, ["Phone", "Mobile", "telephone"]),
    "birth": $isoDate($pick($e, ["Date_of_Birth", "birth", "birthdate"])),
    "language": $language($pick($e, ["Language", "locale"])),
    "street": $street.street,
    "housenr": $street.housenr,
    "boxnr": $street.boxnr,
    "zipcode": $pick($e, ["Zip_Code", "Mailing_Zip", "zip", "postal_code"]),
    "city": $pick($e, ["City", "Mailing_City"]),
    "country_code": $countryCode($pick($e, ["Country", "Mailing_Country", "country_code"])),
    "company": $pick($e, ["Company", "Account_Name"])
  }
)`;

/** Dataverse's lead and contact columns (logical names). */
const DYNAMICS = `(
  $r := record;
  $street := ${ADDRESS_PARTS('$r.address1_line1')};
  {
    "record_id": $text(id),
    "backref": $pick($r, ["backref", "record_url"]),
    "first_name": $text($r.firstname),
    "last_name": $text($r.lastname),
    "email": $first([$r.emailaddress1, $r.emailaddress2]),
    "phone": $first([$r.telephone1, $r.mobilephone, $r.telephone2]),
    "birth": $isoDate($r.birthdate),
    "street": $street.street,
    "housenr": $street.housenr,
    "boxnr": $street.boxnr,
    "zipcode": $text($r.address1_postalcode),
    "city": $text($r.address1_city),
    "country_code": $countryCode($r.address1_country),
    "company": $first([$r.companyname, $r.parentcustomerid.Name])
  }
)`;

function withLead(contact: string): string {
  return `( $c := ${contact}; ${LEAD} )`;
}

/** The default mapping of each type, as JSONata text (json: the body as posted). */
export const DEFAULT_MAPPINGS: Readonly<Record<SourceType, string>> = {
  hubspot: withLead(HUBSPOT),
  pipedrive: withLead(PIPEDRIVE),
  salesforce: withLead(SALESFORCE),
  typeform: withLead(TYPEFORM),
  facebook: withLead(FACEBOOK),
  zoho: withLead(ZOHO),
  dynamics: withLead(DYNAMICS),
  json: '$',
};
