import { ArgumentMetadata, Type, ValidationPipe, ValidationPipeOptions } from '@nestjs/common';
import { getMetadataStorage, ValidationError } from 'class-validator';
import { CreateLeadDto, HTTP_URLS_ALLOWED, HTTPS_URLS_ONLY } from '../dto/create-lead.dto';
import { checkBodyShape, MAX_LISTED_PROBLEMS } from './body-shape';
import { compiledLeadCheck } from './compiled-lead-rules';
import { FieldError } from './field-error';

/*
 * The lead rules, callable anywhere: the intake's validation pipe answers a body's problems
 * with them, and the worker checks what a native source's mapping produced with the very
 * same code, so both name a problem in the same words.
 */

export interface LeadValidationOptions {
  /** Accept http URLs where https is required (ALLOW_HTTP_URLS, local development). */
  allowHttpUrls?: boolean;
}

/**
 * The options of every strict body check. Unknown fields are refused at the top level of a
 * DTO (a typo such as `prospekt` must not be dropped silently), while nested objects keep
 * fields we do not know: WeGroup's prospect has more fields than are published, and they pass
 * through.
 */
export function strictValidationOptions(options: LeadValidationOptions = {}): ValidationPipeOptions {
  return {
    transform: true,
    whitelist: false,
    // Ungrouped rules always apply; of the grouped ones, the URL rule that ALLOW_HTTP_URLS picks.
    always: true,
    groups: [options.allowHttpUrls ? HTTP_URLS_ALLOWED : HTTPS_URLS_ONLY],
    forbidUnknownValues: true,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
  };
}

/** Flattens class-validator's tree into `prospect.callbacks.0`-style paths, one line per problem. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = parent ? `${parent}.${error.property}` : error.property;
    for (const message of Object.values(error.constraints ?? {})) {
      out.push({ field, message: message.startsWith(error.property) ? `${field}${message.slice(error.property.length)}` : message });
    }
    if (error.children?.length) out.push(...flattenValidationErrors(error.children, field));
  }
  return out;
}

/** What a body check found: the DTO instance, or its first problems (`errors`) and how many there are (`problems`). */
export type BodyCheck<T> = { value: T; errors?: undefined; problems?: undefined } | { value?: undefined; errors: FieldError[]; problems: number };

/** Thrown by the validator's own exception factory; never leaves this file. */
class FieldErrors extends Error {
  constructor(readonly errors: FieldError[]) {
    super('invalid body');
  }
}

export const NOT_AN_OBJECT: FieldError = { field: '(body)', message: 'must be a JSON object' };

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Checks a body against a DTO class as the intake does: shape limits first (depth, size,
 * string lengths, reserved names), then unknown top-level fields, then the DTO's rules.
 * Returns a value instead of throwing. A lead (CreateLeadDto) is accepted by the lead rules
 * compiled once (compiled-lead-rules.ts); only one they refuse goes through class-validator,
 * which words its problems.
 */
export class BodyValidator extends ValidationPipe {
  private readonly allowHttpUrls: boolean;

  constructor(options: LeadValidationOptions = {}) {
    super({
      ...strictValidationOptions(options),
      exceptionFactory: (errors) => new FieldErrors(flattenValidationErrors(errors)),
    });
    this.allowHttpUrls = options.allowHttpUrls === true;
  }

  /**
   * The DTO instance, or its problems (field paths relative to the body): at most
   * MAX_LISTED_PROBLEMS listed, and how many there are.
   */
  async validateBody<T>(value: unknown, metatype: Type<T>, metadata: ArgumentMetadata = { type: 'body', metatype }): Promise<BodyCheck<T>> {
    if (!isJsonObject(value)) return { errors: [NOT_AN_OBJECT], problems: 1 };
    // Depth, size and string lengths first: what follows recurses through the body.
    const shape = checkBodyShape(value);
    if (shape.length) return { errors: shape, problems: shape.length };
    const known = knownProperties(metatype);
    const unknown = Object.keys(value).filter((key) => !known.has(key));
    const problems: FieldError[] = unknown.slice(0, MAX_LISTED_PROBLEMS).map((field) => ({ field, message: `${field} is not a known field` }));
    // With more unknown fields than can be listed, the rest of the checks could add nothing to the answer.
    if (unknown.length >= MAX_LISTED_PROBLEMS) return { errors: problems, problems: unknown.length };
    if (unknown.length === 0 && (metatype as unknown) === CreateLeadDto) {
      const lead = compiledLeadCheck(value, this.allowHttpUrls);
      if (lead) return { value: lead as T };
    }
    let result: unknown;
    let found = unknown.length;
    try {
      result = await super.transform(value, metadata);
    } catch (error) {
      if (!(error instanceof FieldErrors)) throw error;
      problems.push(...error.errors);
      found += error.errors.length;
    }
    return problems.length ? { errors: problems.slice(0, MAX_LISTED_PROBLEMS), problems: found } : { value: result as T };
  }
}

const knownCache = new WeakMap<object, Set<string>>();

function knownProperties(metatype: abstract new (...args: never[]) => unknown): Set<string> {
  let known = knownCache.get(metatype);
  if (!known) {
    const metadatas = getMetadataStorage().getTargetValidationMetadatas(metatype, '', true, false);
    known = new Set(metadatas.map((m) => m.propertyName));
    knownCache.set(metatype, known);
  }
  return known;
}

const validators = new Map<boolean, BodyValidator>();

/**
 * A lead body (`POST /v1/leads`'s, or what a native source's mapping produced) checked
 * against the lead rules: the CreateLeadDto, or its problems, exactly as the intake words them.
 */
export async function validateLeadBody(value: unknown, options: LeadValidationOptions = {}): Promise<BodyCheck<CreateLeadDto>> {
  const allowHttpUrls = options.allowHttpUrls === true;
  let validator = validators.get(allowHttpUrls);
  if (!validator) {
    validator = new BodyValidator({ allowHttpUrls });
    validators.set(allowHttpUrls, validator);
  }
  return validator.validateBody(value, CreateLeadDto);
}
