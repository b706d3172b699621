import { CreateLeadDto, ExternalRefDto, ProspectDto } from '../dto/create-lead.dto';
import { riskObjectsProblem, webUrlProblem } from '../dto/lead-validators';

/*
 * The lead rules of CreateLeadDto (and its ProspectDto and ExternalRefDto) as one plain
 * function, built once: class-transformer and class-validator walk the decorators' metadata,
 * build an instance, a validation error tree and its promises for every lead, which cost more
 * of the intake's CPU than anything but the HTTP server itself. A lead that passes these checks
 * passes the decorators too, and becomes the same DTO instances class-transformer would build.
 *
 * Only acceptance is decided here. A lead that fails any check goes through class-validator as
 * before, so every refusal keeps its exact words (and the rare refusals carry the cost). The
 * checks are therefore allowed to be stricter than the decorators, never looser: a length is
 * compared in UTF-16 code units, which are never fewer than the characters MaxLength counts.
 * DECORATED_LEAD_RULES lists the decorators these checks mirror; a spec compares it with the
 * DTOs' metadata, so a rule added to a DTO without its check here fails the build's tests.
 */

/** Every decorator rule of the lead DTOs, as `Class.property: rule`, that compiledLeadCheck mirrors. */
export const DECORATED_LEAD_RULES: readonly string[] = [
  'CreateLeadDto.origin: isOptional, isString, isNotEmpty, maxLength',
  'CreateLeadDto.backref: isOptional, isHttpsUrl, isHttpUrl, maxLength',
  'CreateLeadDto.prospect: isDefined, isObject, nestedValidation',
  'CreateLeadDto.distribution_id: isOptional, isString, matches',
  'ProspectDto.first_name: isDefined, isString, isNotEmpty, matches, maxLength',
  'ProspectDto.last_name: isDefined, isString, isNotEmpty, matches, maxLength',
  'ProspectDto.callbacks: isOptional, isArray, arrayMaxSize, isHttpsUrl, isHttpUrl',
  'ProspectDto.external_ref: isOptional, isObject, nestedValidation',
  'ProspectDto.risk_objects: isOptional, isObject, isRiskObjects',
  'ExternalRefDto.external_ref: isDefined, isString, isNotEmpty, maxLength',
  'ExternalRefDto.external_ref_company: isOptional, isString, maxLength',
];

const DISTRIBUTION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const NOT_BLANK = /\S/;

type Plain = Record<string, unknown>;

function isPlainObject(value: unknown): value is Plain {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const absent = (value: unknown): boolean => value === undefined || value === null;

/** IsDefined + IsString + IsNotEmpty + MaxLength(max). */
const text = (value: unknown, max: number): boolean => typeof value === 'string' && value !== '' && value.length <= max;

const name = (value: unknown): boolean => text(value, 200) && NOT_BLANK.test(value as string);

function externalRefOk(ref: Plain): boolean {
  return text(ref.external_ref, 255) && (absent(ref.external_ref_company) || (typeof ref.external_ref_company === 'string' && ref.external_ref_company.length <= 255));
}

function callbacksOk(callbacks: unknown, allowHttp: boolean): boolean {
  if (!Array.isArray(callbacks) || callbacks.length > 20) return false;
  for (const url of callbacks) if (webUrlProblem(url, allowHttp) !== null) return false;
  return true;
}

function prospectOk(prospect: Plain, allowHttp: boolean): boolean {
  if (!name(prospect.first_name) || !name(prospect.last_name)) return false;
  if (!absent(prospect.callbacks) && !callbacksOk(prospect.callbacks, allowHttp)) return false;
  if (!absent(prospect.external_ref) && !(isPlainObject(prospect.external_ref) && externalRefOk(prospect.external_ref))) return false;
  return absent(prospect.risk_objects) || (isPlainObject(prospect.risk_objects) && riskObjectsProblem(prospect.risk_objects) === null);
}

function leadOk(body: Plain, allowHttp: boolean): boolean {
  if (!absent(body.origin) && !text(body.origin, 255)) return false;
  if (!absent(body.backref) && !(typeof body.backref === 'string' && body.backref.length <= 2048 && webUrlProblem(body.backref, allowHttp) === null)) return false;
  if (!absent(body.distribution_id) && !(typeof body.distribution_id === 'string' && DISTRIBUTION_ID.test(body.distribution_id))) return false;
  return isPlainObject(body.prospect) && prospectOk(body.prospect, allowHttp);
}

/**
 * The lead as the DTO instances class-transformer builds (CreateLeadDto holding a ProspectDto
 * holding an ExternalRefDto; other members as given), or null when any rule might not hold:
 * the caller then asks class-validator, which words the problems. `body` is a parsed JSON
 * object whose shape (depth, sizes, reserved names) and top-level field names were checked.
 */
export function compiledLeadCheck(body: Plain, allowHttp: boolean): CreateLeadDto | null {
  if (!leadOk(body, allowHttp)) return null;
  const source = body.prospect as Plain;
  const prospect = Object.assign(new ProspectDto(), source);
  if (isPlainObject(source.external_ref)) prospect.external_ref = Object.assign(new ExternalRefDto(), source.external_ref);
  return Object.assign(new CreateLeadDto(), body, { prospect });
}
