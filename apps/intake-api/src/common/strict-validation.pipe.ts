import { ArgumentMetadata, HttpStatus, Injectable, Type, ValidationPipe } from '@nestjs/common';
import { BodyCheck, BodyValidator, describeProblems, FieldError, flattenValidationErrors, isJsonObject, NOT_AN_OBJECT, strictValidationOptions } from '@app/leads';
import { ProblemException } from './problem';

// The lead rules live in @app/leads (the worker checks mapped native leads with them too).
export { describeProblems, flattenValidationErrors } from '@app/leads';
export type { BodyCheck } from '@app/leads';

export interface StrictValidationOptions {
  /** Accept http URLs where https is required (ALLOW_HTTP_URLS, local development). */
  allowHttpUrls?: boolean;
}

/**
 * The global validation pipe: the lead rules' BodyValidator (@app/leads) for route bodies,
 * answering their problems as a 400 problem document; Nest's ValidationPipe with the same
 * options for everything else.
 */
@Injectable()
export class StrictValidationPipe extends ValidationPipe {
  private readonly bodies: BodyValidator;

  constructor(options: StrictValidationOptions = {}) {
    super({
      ...strictValidationOptions(options),
      exceptionFactory: (errors) => {
        const fieldErrors = flattenValidationErrors(errors);
        return new ProblemException(HttpStatus.BAD_REQUEST, describeFieldErrors(fieldErrors), fieldErrors);
      },
    });
    this.bodies = new BodyValidator(options);
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
   * Every check this pipe makes of a route's body, as a value rather than an exception (see
   * BodyValidator). POST /v1/leads/batch checks each of its leads with it, so both routes
   * report a lead's problems alike.
   */
  validateBody<T>(value: unknown, metatype: Type<T>, metadata: ArgumentMetadata = { type: 'body', metatype }): Promise<BodyCheck<T>> {
    return this.bodies.validateBody(value, metatype, metadata);
  }
}

/** The `detail` of a 400 for these problems (`errors` lists the first `problems`, or all of them). */
export function describeFieldErrors(errors: FieldError[], problems = errors.length): string {
  return `Invalid request body: ${describeProblems(errors, problems)}.`;
}
