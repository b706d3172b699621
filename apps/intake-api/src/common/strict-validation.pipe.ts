import { ArgumentMetadata, HttpStatus, Injectable, Type, ValidationPipe } from '@nestjs/common';
import { getMetadataStorage, ValidationError } from 'class-validator';
import { HTTP_URLS_ALLOWED, HTTPS_URLS_ONLY } from '@app/leads';
import { checkBodyShape, MAX_LISTED_PROBLEMS } from './body-limits';
import { FieldError, ProblemException } from './problem';

export interface StrictValidationOptions {
  /** Accept http URLs where https is required (ALLOW_HTTP_URLS, local development). */
  allowHttpUrls?: boolean;
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

/**
 * The global validation pipe. Unknown fields are refused at the top level of a DTO (a typo
 * such as `prospekt` must not be dropped silently), while nested objects keep fields we do
 * not know: WeGroup's prospect has more fields than are published, and they pass through.
 */
@Injectable()
export class StrictValidationPipe extends ValidationPipe {
  constructor(options: StrictValidationOptions = {}) {
    super({
      transform: true,
      whitelist: false,
      // Ungrouped rules always apply; of the grouped ones, the URL rule that ALLOW_HTTP_URLS picks.
      always: true,
      groups: [options.allowHttpUrls ? HTTP_URLS_ALLOWED : HTTPS_URLS_ONLY],
      forbidUnknownValues: true,
      stopAtFirstError: true,
      validationError: { target: false, value: false },
      exceptionFactory: (errors) => {
        const fieldErrors = flattenValidationErrors(errors);
        return new ProblemException(HttpStatus.BAD_REQUEST, describeFieldErrors(fieldErrors), fieldErrors);
      },
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type !== 'body' || !metadata.metatype || !this.toValidate(metadata)) return super.transform(value, metadata);
    if (!isJsonObject(value)) {
      throw new ProblemException(HttpStatus.BAD_REQUEST, 'The request body must be a JSON object.', [NOT_AN_OBJECT]);
    }
    const checked = await this.validateBody(value, metadata.metatype as Type<unknown>, metadata);
    if (checked.errors) throw new ProblemException(HttpStatus.BAD_REQUEST, describeFieldErrors(checked.errors, checked.problems), checked.errors);
    return checked.value;
  }

  /**
   * Every check this pipe makes of a route's body, as a value rather than an exception: the
   * DTO instance, or its problems (field paths relative to the body): at most
   * MAX_LISTED_PROBLEMS listed, and how many there are. POST /v1/leads/batch checks each of
   * its leads with it, so both routes report a lead's problems alike.
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
    let result: unknown;
    let found = unknown.length;
    try {
      result = await super.transform(value, metadata);
    } catch (error) {
      if (!(error instanceof ProblemException)) throw error;
      problems.push(...(error.errors ?? []));
      found += error.errors?.length ?? 0;
    }
    return problems.length ? { errors: problems.slice(0, MAX_LISTED_PROBLEMS), problems: found } : { value: result as T };
  }
}

/** The outcome of {@link StrictValidationPipe.validateBody}: `problems` counts those found, `errors` lists the first of them. */
export type BodyCheck<T> = { value: T; errors?: undefined; problems?: undefined } | { value?: undefined; errors: FieldError[]; problems: number };

const NOT_AN_OBJECT: FieldError = { field: '(body)', message: 'must be a JSON object' };

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
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

/** The `detail` of a 400 for these problems (`errors` lists the first `problems`, or all of them). */
export function describeFieldErrors(errors: FieldError[], problems = errors.length): string {
  return `Invalid request body: ${describeProblems(errors, problems)}.`;
}

/** `3 problems in a, b` or `4900 problems in a, …; 4880 more not listed`. */
export function describeProblems(errors: FieldError[], problems = errors.length): string {
  const fields = [...new Set(errors.map((e) => e.field))];
  const omitted = problems - errors.length;
  return `${problems} problem${problems === 1 ? '' : 's'} in ${fields.join(', ')}${omitted > 0 ? `; ${omitted} more not listed` : ''}`;
}
