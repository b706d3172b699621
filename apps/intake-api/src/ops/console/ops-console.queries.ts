import { HttpStatus } from '@nestjs/common';
import { IndexedStatus, LEAD_STATUSES, LeadSearchQuery } from '@app/leads';
import { ProblemException } from '../../common/problem';

/** The statuses a search may ask for (`delivering` is not indexed). */
export const SEARCH_STATUSES = LEAD_STATUSES.filter((status): status is IndexedStatus => status !== 'delivering');

/** Rows per page of the Leads and Audit pages. */
export const PAGE_SIZE = 25;

type Query = Record<string, unknown>;

/** A 400 naming the query parameter and what it must be; the console shows it as the page's message. */
export function badParameter(name: string, problem: string): ProblemException {
  return new ProblemException(HttpStatus.BAD_REQUEST, `Query parameter "${name}" ${problem}.`, [{ field: name, message: problem }]);
}

/**
 * One query parameter as text, trimmed; undefined when absent or empty (an empty search box).
 * Given twice, or longer than `max`, is a 400 naming it: nothing unbounded reaches Redis.
 */
export function textParameter(query: Query, name: string, max: number, pattern?: RegExp, patternProblem?: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badParameter(name, 'must be given once');
  const text = value.trim();
  if (text === '') return undefined;
  if (text.length > max) throw badParameter(name, `must be at most ${max} characters`);
  if (pattern && !pattern.test(text)) throw badParameter(name, patternProblem ?? 'has characters it cannot have');
  return text;
}

/** A time: ISO 8601, or a date-time field's `YYYY-MM-DDTHH:MM`, read as UTC. */
function timeParameter(query: Query, name: string): number | undefined {
  const text = textParameter(query, name, 40, /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/, 'must be a date-time such as 2026-11-30T18:00 (UTC)');
  if (text === undefined) return undefined;
  const withTime = text.includes('T') ? text : `${text}T00:00`;
  const time = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(withTime) ? withTime : `${withTime}Z`);
  // Date.parse rolls 2026-02-30 over into March: the day must exist as written.
  const [year, month, day] = text.slice(0, 10).split('-').map(Number);
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (Number.isNaN(time) || calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) throw badParameter(name, 'is not a real date-time');
  return time;
}

/** A cursor as an earlier page gave it: opaque, but bounded and plain. */
export function cursorParameter(query: Query): string | undefined {
  return textParameter(query, 'cursor', 512, /^[A-Za-z0-9_.:=+/-]+$/, 'is not one a previous page gave');
}

/** What a lead id can look like (ours are UUIDs); anything else is answered without asking Redis. */
export const LEAD_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SOURCE = /^[A-Za-z0-9_.-]{1,64}$/;
const PRINTABLE = /^[^\u0000-\u001f\u007f]+$/;

/** The Leads page's search form, checked: a bad field is a 400 naming it. */
export interface LeadsForm {
  id?: string;
  wegroup_lead_id?: string;
  source?: string;
  status?: IndexedStatus;
  external_ref?: string;
  from?: string;
  to?: string;
}

export function leadSearchOf(query: Query): { form: LeadsForm; search: LeadSearchQuery } {
  const status = textParameter(query, 'status', 20);
  if (status !== undefined && !(SEARCH_STATUSES as readonly string[]).includes(status)) throw badParameter('status', `must be one of ${SEARCH_STATUSES.join(', ')}`);
  const form: LeadsForm = {
    id: textParameter(query, 'id', 64, LEAD_ID, 'must be a lead id (letters, digits, "-" and "_")'),
    wegroup_lead_id: textParameter(query, 'wegroup_lead_id', 128, PRINTABLE),
    source: textParameter(query, 'source', 64, SOURCE, 'must be a source name (letters, digits, "_", "." and "-")'),
    status: status as IndexedStatus | undefined,
    external_ref: textParameter(query, 'external_ref', 200, PRINTABLE),
    from: textParameter(query, 'from', 40),
    to: textParameter(query, 'to', 40),
  };
  const receivedFrom = timeParameter(query, 'from');
  const receivedTo = timeParameter(query, 'to');
  if (receivedFrom !== undefined && receivedTo !== undefined && receivedFrom > receivedTo) throw badParameter('to', 'must not be before "from"');
  return {
    form,
    search: {
      id: form.id,
      wegroupLeadId: form.wegroup_lead_id,
      source: form.source,
      status: form.status,
      externalRef: form.external_ref,
      receivedFrom,
      receivedTo,
      cursor: cursorParameter(query),
      limit: PAGE_SIZE,
    },
  };
}

/** The Audit page's filter. */
export function auditQueryOf(query: Query): { lead_id?: string; cursor?: string; limit: number } {
  return { lead_id: textParameter(query, 'lead_id', 64, LEAD_ID, 'must be a lead id (letters, digits, "-" and "_")'), cursor: cursorParameter(query), limit: PAGE_SIZE };
}

/** A form field of a POST body: one string at most `max` long, required unless `optional`. */
export function formField(body: unknown, name: string, max: number, optional = false): string | undefined {
  const value = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  if (value === undefined || value === '') {
    if (optional) return undefined;
    throw new ProblemException(HttpStatus.BAD_REQUEST, `Form field "${name}" is required.`, [{ field: name, message: 'is required' }]);
  }
  if (typeof value !== 'string') throw new ProblemException(HttpStatus.BAD_REQUEST, `Form field "${name}" must be given once.`, [{ field: name, message: 'must be given once' }]);
  if (value.length > max) throw new ProblemException(HttpStatus.BAD_REQUEST, `Form field "${name}" must be at most ${max} characters.`, [{ field: name, message: `must be at most ${max} characters` }]);
  return value;
}
