import { lead } from '../../../test/support/lead-fixtures';
import { jsonDecodeIssue, validateLeadBody } from './lead-body.validator';

const prospect = { first_name: 'Foo', last_name: 'Bar' };

describe('validateLeadBody', () => {
  it('accepts the documented example and unknown prospect fields', () => {
    expect(
      validateLeadBody(
        lead(
          { source: { name: 'web' } },
          { birth_date: '1990-01-01', callbacks: ['https://crm.example.com/wegroup/callback', 'http://localhost:8080/cb'] },
        ),
      ),
    ).toEqual([]);
    expect(validateLeadBody({ origin: null, backref: null, prospect: { ...prospect, callbacks: null, external_ref: null } })).toEqual([]);
  });

  it('refuses a missing body and non-objects', () => {
    expect(validateLeadBody(undefined)).toEqual([{ loc: ['body'], msg: 'field required', type: 'value_error.missing' }]);
    for (const body of [null, [], 'x', 1]) {
      expect(validateLeadBody(body)).toEqual([{ loc: ['body'], msg: 'value is not a valid dict', type: 'type_error.dict' }]);
    }
  });

  it('reports a missing prospect, a null name and wrong types', () => {
    expect(validateLeadBody({})).toEqual([{ loc: ['body', 'prospect'], msg: 'field required', type: 'value_error.missing' }]);
    expect(validateLeadBody({ prospect: 'x' })).toEqual([{ loc: ['body', 'prospect'], msg: 'value is not a valid dict', type: 'type_error.dict' }]);
    expect(validateLeadBody({ prospect: { first_name: null, last_name: 7, callbacks: 'https://x.example.com', external_ref: [] } })).toEqual([
      { loc: ['body', 'prospect', 'first_name'], msg: 'none is not an allowed value', type: 'type_error.none.not_allowed' },
      { loc: ['body', 'prospect', 'last_name'], msg: 'str type expected', type: 'type_error.str' },
      { loc: ['body', 'prospect', 'callbacks'], msg: 'value is not a valid list', type: 'type_error.list' },
      { loc: ['body', 'prospect', 'external_ref'], msg: 'value is not a valid dict', type: 'type_error.dict' },
    ]);
  });

  it('checks URLs like pydantic HttpUrl', () => {
    const issues = validateLeadBody({ backref: 'https://', prospect: { ...prospect, callbacks: ['', 'mailto:a@b.c', 3, `https://x.example.com/${'a'.repeat(2100)}`] } });
    expect(issues.map((i) => [i.loc.join('.'), i.type])).toEqual([
      ['body.backref', 'value_error.url.host'],
      ['body.prospect.callbacks.0', 'value_error.any_str.min_length'],
      ['body.prospect.callbacks.1', 'value_error.url.scheme'],
      ['body.prospect.callbacks.2', 'type_error.str'],
      ['body.prospect.callbacks.3', 'value_error.any_str.max_length'],
    ]);
  });

  it('lists every extra top-level field after the field errors', () => {
    expect(validateLeadBody({ prospect, distribution_id: 'd', Origin: 'x' })).toEqual([
      { loc: ['body', 'distribution_id'], msg: 'extra fields not permitted', type: 'value_error.extra' },
      { loc: ['body', 'Origin'], msg: 'extra fields not permitted', type: 'value_error.extra' },
    ]);
  });

  it('reports the position of a JSON syntax error when known', () => {
    expect(jsonDecodeIssue('Unexpected end of JSON input')).toMatchObject({ loc: ['body'], type: 'value_error.jsondecode' });
    expect(jsonDecodeIssue("Expected ',' or '}' after property value in JSON at position 12")).toMatchObject({ loc: ['body', 12] });
  });
});
