import { isURL, ValidateBy, ValidationArguments, ValidationOptions } from 'class-validator';

/**
 * Validation groups for the URL rule: the intake validates with exactly one of them, as
 * ALLOW_HTTP_URLS says (https only, unless http is allowed for local development).
 */
export const HTTPS_URLS_ONLY = 'https-urls-only';
export const HTTP_URLS_ALLOWED = 'http-urls-allowed';

export const MAX_URL_LENGTH = 2048;
export const MAX_RISK_OBJECTS_PER_KIND = 50;

const URL_SYNTAX = { require_protocol: true, protocols: ['http', 'https'], require_tld: false };

/** Why `value` is not a URL WeGroup may call or link to, or null when it is one. */
export function webUrlProblem(value: unknown, allowHttp: boolean): string | null {
  const expected = allowHttp ? 'must be an http(s) URL' : 'must be an https URL';
  if (typeof value !== 'string' || !isURL(value, URL_SYNTAX)) return expected;
  if (value.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return expected;
  }
  if (url.username || url.password) return 'must not contain credentials (user:password@)';
  if (url.protocol !== 'https:' && !allowHttp) return 'must be an https URL (http only with ALLOW_HTTP_URLS=true)';
  return null;
}

/**
 * An https URL without credentials (http too when `allowHttp`). With `each`, the message names
 * the first bad item: `callbacks.1 must be an https URL`.
 */
export function IsWebUrl(allowHttp: boolean, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: allowHttp ? 'isHttpUrl' : 'isHttpsUrl',
      validator: {
        validate: (value: unknown) => webUrlProblem(value, allowHttp) === null,
        defaultMessage: (args?: ValidationArguments) => {
          const property = args?.property ?? 'value';
          if (Array.isArray(args?.value)) {
            const index = args.value.findIndex((item: unknown) => webUrlProblem(item, allowHttp) !== null);
            if (index >= 0) return `${property}.${index} ${webUrlProblem(args.value[index], allowHttp)}`;
          }
          return `${property} ${webUrlProblem(args?.value, allowHttp) ?? (allowHttp ? 'must be an http(s) URL' : 'must be an https URL')}`;
        },
      },
    },
    options,
  );
}

/** Why `value` is not a valid `risk_objects`, or null: kinds map to arrays of at most 50 objects. */
export function riskObjectsProblem(value: unknown, property = 'risk_objects'): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `${property} must be an object`;
  for (const [kind, list] of Object.entries(value)) {
    if (!Array.isArray(list)) return `${property}.${kind} must be an array of risk objects`;
    if (list.length > MAX_RISK_OBJECTS_PER_KIND) {
      return `${property}.${kind} has ${list.length} items; at most ${MAX_RISK_OBJECTS_PER_KIND} are accepted`;
    }
    const index = list.findIndex((item: unknown) => item === null || typeof item !== 'object' || Array.isArray(item));
    if (index >= 0) return `${property}.${kind}.${index} must be an object`;
  }
  return null;
}

/** `risk_objects`: by kind (cars, residences …), each an array of at most 50 objects. */
export function IsRiskObjects(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isRiskObjects',
      validator: {
        validate: (value: unknown) => riskObjectsProblem(value) === null,
        defaultMessage: (args?: ValidationArguments) => riskObjectsProblem(args?.value, args?.property) ?? 'risk_objects is invalid',
      },
    },
    options,
  );
}
