import { ProblemException } from '../common/problem';
import { batchFieldErrors, batchLeads, MAX_BATCH_LEADS } from './lead-batch';

function errorsOf(body: unknown) {
  try {
    batchLeads(body);
  } catch (error) {
    if (error instanceof ProblemException) return { status: error.getStatus(), errors: error.errors };
    throw error;
  }
  throw new Error('expected a 400');
}

describe('batch envelope', () => {
  it('returns the leads of a valid envelope, whatever they hold', () => {
    expect(batchLeads({ leads: [1, 'x', {}] })).toEqual([1, 'x', {}]);
    expect(batchLeads({ leads: Array.from({ length: MAX_BATCH_LEADS }, () => ({})) })).toHaveLength(500);
  });

  it.each([
    [null, 'leads', /the body must be a JSON object/],
    [[{}], 'leads', /the body must be a JSON object/],
    [{}, 'leads', /^leads is required$/],
    [{ leads: {} }, 'leads', /must be an array/],
    [{ leads: [] }, 'leads', /at least 1 lead/],
    [{ leads: Array.from({ length: 501 }, () => ({})) }, 'leads', /holds 501 leads; at most 500/],
    [{ leads: [{}], extra: 1 }, 'extra', /extra is not a known field/],
  ])('refuses %j with a 400 naming %s', (body, field, message) => {
    const { status, errors } = errorsOf(body);
    expect(status).toBe(400);
    expect(errors).toEqual([{ field, message: expect.stringMatching(message) }]);
  });

  it('puts a lead’s problems under leads[i], messages included', () => {
    expect(
      batchFieldErrors(
        [
          { field: 'prospect.first_name', message: 'prospect.first_name should not be empty' },
          { field: 'prospect.callbacks', message: 'prospect.callbacks.1 must be an https URL' },
          { field: '(body)', message: 'must be a JSON object' },
          { field: 'distribution_id', message: 'no WeGroup connection for distribution "d"' },
        ],
        7,
      ),
    ).toEqual([
      { field: 'leads[7].prospect.first_name', message: 'leads[7].prospect.first_name should not be empty' },
      { field: 'leads[7].prospect.callbacks', message: 'leads[7].prospect.callbacks.1 must be an https URL' },
      { field: 'leads[7]', message: 'must be a JSON object' },
      { field: 'leads[7].distribution_id', message: 'no WeGroup connection for distribution "d"' },
    ]);
  });
});
