import { ProblemException } from '../../common/problem';
import { auditQueryOf, formField, leadSearchOf, PAGE_SIZE } from './ops-console.queries';

function problemOf(read: () => unknown): { status: number; message: string; field?: string } {
  try {
    read();
  } catch (error) {
    if (error instanceof ProblemException) return { status: error.getStatus(), message: error.message, field: error.errors?.[0]?.field };
    throw error;
  }
  throw new Error('expected a problem');
}

describe('ops console query parameters', () => {
  it('reads a search: empty boxes are no criterion, times are UTC (a date alone is its midnight), a page is PAGE_SIZE rows', () => {
    const { form, search } = leadSearchOf({ id: '', external_ref: ' 4711 ', source: 'hubspot-main', status: 'failed', from: '2026-11-30', to: '2026-11-30T18:30', cursor: 'abc:1' });
    expect(form).toEqual({ id: undefined, wegroup_lead_id: undefined, source: 'hubspot-main', status: 'failed', external_ref: '4711', from: '2026-11-30', to: '2026-11-30T18:30' });
    expect(search).toEqual({
      id: undefined,
      wegroupLeadId: undefined,
      source: 'hubspot-main',
      status: 'failed',
      externalRef: '4711',
      receivedFrom: Date.parse('2026-11-30T00:00Z'),
      receivedTo: Date.parse('2026-11-30T18:30Z'),
      cursor: 'abc:1',
      limit: PAGE_SIZE,
    });
    expect(leadSearchOf({ from: '2026-11-30T18:30:00+02:00' }).search.receivedFrom).toBe(Date.parse('2026-11-30T16:30:00Z'));
  });

  it.each([
    [{ status: 'delivering' }, 'status'],
    [{ status: ['failed', 'queued'] }, 'status'],
    [{ id: 'a/b' }, 'id'],
    [{ external_ref: 'x'.repeat(201) }, 'external_ref'],
    [{ wegroup_lead_id: 'a\u0000b' }, 'wegroup_lead_id'],
    [{ from: '2026-02-30T10:00' }, 'from'],
    [{ to: '30/11/2026' }, 'to'],
    [{ from: '2026-11-30', to: '2026-11-29' }, 'to'],
    [{ cursor: '<x>' }, 'cursor'],
  ])('answers %j with a 400 naming %s', (query, field) => {
    const problem = problemOf(() => leadSearchOf(query));
    expect(problem).toMatchObject({ status: 400, field });
    expect(problem.message).toContain(`"${field}"`);
  });

  it('reads the audit filter and refuses a lead id that is none', () => {
    expect(auditQueryOf({ lead_id: 'abc-1' })).toEqual({ lead_id: 'abc-1', cursor: undefined, limit: PAGE_SIZE });
    expect(problemOf(() => auditQueryOf({ lead_id: '../x' }))).toMatchObject({ status: 400, field: 'lead_id' });
  });

  it('reads a form field once, bounded, required unless optional', () => {
    expect(formField({ reason: 'WeGroup answered 422' }, 'reason', 500)).toBe('WeGroup answered 422');
    expect(formField({}, 'reason', 500, true)).toBeUndefined();
    expect(problemOf(() => formField({}, 'reason', 500))).toMatchObject({ status: 400, field: 'reason' });
    expect(problemOf(() => formField({ reason: ['a', 'b'] }, 'reason', 500))).toMatchObject({ status: 400, field: 'reason' });
    expect(problemOf(() => formField({ reason: 'x'.repeat(501) }, 'reason', 500))).toMatchObject({ status: 400, field: 'reason' });
  });
});
