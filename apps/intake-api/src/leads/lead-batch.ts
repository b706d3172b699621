import { HttpStatus } from '@nestjs/common';
import { FieldError, ProblemException } from '../common/problem';
import { hasMoreEntriesThan, memberHasMoreEntriesThan } from '../common/body-limits';
import { describeFieldErrors, describeProblems } from '../common/strict-validation.pipe';

/** The batch route, as Fastify and the metrics see it. */
export const LEAD_BATCH_ROUTE = '/v1/leads/batch';

/** Leads per batch request. */
export const MAX_BATCH_LEADS = 500;

/**
 * Object members and array items of a whole batch body: 200 per lead on average, several times
 * what a real lead has. Checked before any lead is: a body of tiny fields near the size limit
 * would otherwise be copied and checked field by field (seconds of work, tens of MB of heap).
 */
export const MAX_BATCH_ENTRIES = 200 * MAX_BATCH_LEADS;

const TOO_MANY_ENTRIES: FieldError = {
  field: 'leads',
  message: `leads has more than ${MAX_BATCH_ENTRIES} fields and array items in all; send fewer leads per batch`,
};

/**
 * The 400 for a batch body whose text already shows more than MAX_BATCH_ENTRIES entries under
 * `leads`, or null: asked before the body is parsed, which would cost ten times its bytes.
 */
export function unparsedBatchProblem(raw: Buffer): ProblemException | null {
  if (!memberHasMoreEntriesThan(raw, 'leads', MAX_BATCH_ENTRIES)) return null;
  return new ProblemException(HttpStatus.BAD_REQUEST, describeFieldErrors([TOO_MANY_ENTRIES]), [TOO_MANY_ENTRIES]);
}

/** Problems listed in one batch answer, over all its leads (each lists at most 20). */
export const MAX_BATCH_LISTED_PROBLEMS = 1_000;

/**
 * The leads of a batch body, or a 400 naming `leads` (or an unknown top-level field). Only
 * the envelope is checked here; each lead is checked on its own, like a POST /v1/leads body.
 */
export function batchLeads(body: unknown): unknown[] {
  const problems: FieldError[] = [];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    problems.push({ field: 'leads', message: 'leads is required: the body must be a JSON object {"leads": [ … ]}' });
  } else {
    for (const key of Object.keys(body)) if (key !== 'leads') problems.push({ field: key, message: `${key} is not a known field` });
    const leads = (body as { leads?: unknown }).leads;
    if (leads === undefined || leads === null) problems.push({ field: 'leads', message: 'leads is required' });
    else if (!Array.isArray(leads)) problems.push({ field: 'leads', message: 'leads must be an array of leads' });
    else if (leads.length === 0) problems.push({ field: 'leads', message: 'leads must hold at least 1 lead' });
    else if (leads.length > MAX_BATCH_LEADS) {
      problems.push({ field: 'leads', message: `leads holds ${leads.length} leads; at most ${MAX_BATCH_LEADS} are accepted per request` });
    }
    if (problems.length === 0 && hasMoreEntriesThan(leads, MAX_BATCH_ENTRIES)) problems.push(TOO_MANY_ENTRIES);
    if (problems.length === 0) return leads as unknown[];
  }
  throw new ProblemException(HttpStatus.BAD_REQUEST, describeFieldErrors(problems), problems);
}

/** A lead's problems as POST /v1/leads reports them, with paths under `leads[i]`. */
export function batchFieldErrors(errors: FieldError[], index: number): FieldError[] {
  const base = `leads[${index}]`;
  return errors.map(({ field, message }) => {
    if (field === '(body)') return { field: base, message };
    const path = `${base}.${field}`;
    return { field: path, message: message.startsWith(field) ? `${path}${message.slice(field.length)}` : message };
  });
}

/**
 * The `detail` of a refused lead of a batch: `errors` lists the first `problems` of the lead, or
 * none once the answer has listed MAX_BATCH_LISTED_PROBLEMS.
 */
export function describeLeadErrors(errors: FieldError[], problems = errors.length): string {
  if (errors.length === 0 && problems > 0) {
    return `Invalid lead: ${problems} problem${problems === 1 ? '' : 's'}; not listed (an answer lists at most ${MAX_BATCH_LISTED_PROBLEMS}).`;
  }
  return `Invalid lead: ${describeProblems(errors, problems)}.`;
}
