import { riskObjectsProblem, webUrlProblem } from './lead-validators';

describe('lead validators', () => {
  it.each([
    ['https://crm.example.com/p/1', false, null],
    ['http://crm.example.com/p/1', false, 'must be an https URL (http only with ALLOW_HTTP_URLS=true)'],
    ['http://localhost:8080/p/1', true, null],
    ['https://user:pw@crm.example.com/', false, 'must not contain credentials (user:password@)'],
    ['https://token@crm.example.com/', true, 'must not contain credentials (user:password@)'],
    ['ftp://crm.example.com/', true, 'must be an http(s) URL'],
    ['not a url', false, 'must be an https URL'],
    [42, false, 'must be an https URL'],
    [`https://crm.example.com/${'a'.repeat(2048)}`, false, 'must be at most 2048 characters'],
  ])('webUrlProblem(%j, allowHttp=%s) = %j', (value, allowHttp, problem) => {
    expect(webUrlProblem(value, allowHttp)).toBe(problem);
  });

  it.each([
    [{ cars: [{ vin: 'X' }], residences: [] }, null],
    [{ cars: { vin: 'X' } }, 'risk_objects.cars must be an array of risk objects'],
    [{ cars: Array.from({ length: 51 }, () => ({})) }, 'risk_objects.cars has 51 items; at most 50 are accepted'],
    [{ cars: [{}, 'X'] }, 'risk_objects.cars.1 must be an object'],
    [[], 'risk_objects must be an object'],
  ])('riskObjectsProblem(%j) = %j', (value, problem) => {
    expect(riskObjectsProblem(value)).toBe(problem);
  });
});
