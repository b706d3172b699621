import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LEAD_BATCH_ROUTE } from '../leads/lead-batch';
import { checkBodyShape } from './body-limits';
import { ProblemBody, ProblemException } from './problem';
import { describeFieldErrors } from './strict-validation.pipe';

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

/** Body-parser failures, said in words a CRM developer can act on. */
const PARSER_DETAILS: Record<number, string> = {
  413: 'The request body is larger than 256 KB.',
  415: 'Content-Type must be application/json.',
};

/** The route's body limit, as the 413 states it: `256 KB`, `5 MB`. */
function bodyLimitText(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KB`;
  return `${bytes} bytes`;
}

/** The one exception filter: every error leaves as application/problem+json. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const request = host.switchToHttp().getRequest<FastifyRequest | undefined>();
    let status = HttpStatus.INTERNAL_SERVER_ERROR;
    let detail = 'Internal error. The failure has been logged.';
    let errors: ProblemBody['errors'];
    let headers: Record<string, string> = {};

    if (exception instanceof ProblemException) {
      status = exception.getStatus();
      detail = exception.message;
      errors = exception.errors;
      headers = exception.headers;
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      const response = exception.getResponse();
      const message = typeof response === 'string' ? response : (response as { message?: unknown }).message;
      detail = PARSER_DETAILS[status] ?? (Array.isArray(message) ? message.join('; ') : String(message ?? exception.message));
    } else if (isFastifyError(exception)) {
      status = exception.statusCode!;
      detail = PARSER_DETAILS[status] ?? exception.message ?? STATUS_CODES[status] ?? 'Bad request';
    } else {
      // Only the class: messages of unexpected errors may carry data we must not log.
      this.logger.error(`Unhandled ${(exception as Error)?.name ?? typeof exception}`, (exception as Error)?.stack);
    }

    // Nest hands the parser's error on wrapped in an HttpException (its cause).
    const parserError = (exception as { cause?: FastifyLikeError } | null)?.cause ?? (exception as FastifyLikeError | null);
    if (parserError?.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      const reserved = reservedNamesIn(request);
      if (reserved.length) {
        detail = describeFieldErrors(reserved);
        errors = reserved;
      }
    }

    if (status === HttpStatus.PAYLOAD_TOO_LARGE && !(exception instanceof ProblemException) && request?.routeOptions?.bodyLimit) {
      // Each route has its own limit (the batch route a larger one): say which.
      const limit = bodyLimitText(request.routeOptions.bodyLimit);
      detail = `The request body is larger than ${limit}.`;
      if (request.routeOptions.url === LEAD_BATCH_ROUTE) {
        detail = `The request body is larger than ${limit} (INTAKE_BATCH_BODY_LIMIT_BYTES): send fewer leads per batch.`;
        errors = [{ field: 'leads', message: `leads is larger than ${limit} in all; send fewer leads per batch` }];
      }
    }

    const body: ProblemBody = {
      type: 'about:blank',
      title: STATUS_CODES[status] ?? 'Error',
      status,
      detail,
      ...(errors ? { errors } : {}),
    };
    void reply.status(status).headers(headers).header('Content-Type', 'application/problem+json').send(body);
  }
}

/**
 * The JSON parser refuses a body holding a `__proto__` or `constructor.prototype` key (it
 * could poison objects) and says only "not valid JSON". When the bytes are valid JSON, that
 * was the reason: the fields at fault, named as the body checks name a reserved name.
 */
function reservedNamesIn(request: FastifyRequest | undefined): NonNullable<ProblemBody['errors']> {
  const raw = (request as { rawBody?: Buffer } | undefined)?.rawBody;
  if (!raw) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return [];
  }
  return checkBodyShape(parsed).filter((problem) => problem.message.includes('is a reserved name'));
}

function isFastifyError(error: unknown): error is FastifyLikeError {
  const candidate = error as FastifyLikeError;
  return (
    typeof candidate?.statusCode === 'number' &&
    candidate.statusCode >= 400 &&
    candidate.statusCode < 500 &&
    typeof candidate.code === 'string' &&
    candidate.code.startsWith('FST_')
  );
}
