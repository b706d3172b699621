import type { FastifyRequest } from 'fastify';
import { basicCredentials } from './ops-authenticator';
import { opsContentTypeProblem } from './ops-request-policy';

const request = (method: string, contentType?: string) =>
  ({ method, headers: contentType === undefined ? {} : { 'content-type': contentType } }) as unknown as FastifyRequest;

describe('opsContentTypeProblem: ops actions take JSON only', () => {
  it.each([
    // method, Content-Type, the route reads a body, answer
    ['POST', 'application/x-www-form-urlencoded', true, 415],
    ['POST', undefined, true, 415],
    ['POST', 'text/plain', false, 415],
    ['PUT', 'multipart/form-data; boundary=x', false, 415],
    ['DELETE', 'application/x-www-form-urlencoded', false, 415],
    ['POST', 'application/json', true, undefined],
    ['POST', 'application/json; charset=utf-8', true, undefined],
    ['POST', 'application/merge-patch+json', true, undefined],
    ['POST', undefined, false, undefined],
    ['DELETE', undefined, false, undefined],
    ['GET', 'text/plain', false, undefined],
  ])('%s with %s (body: %s) → %s', (method, type, takesBody, expected) => {
    const problem = opsContentTypeProblem(request(method, type), takesBody);
    expect(problem?.getStatus()).toBe(expected);
    if (problem) expect(problem.message).toMatch(/Content-Type must be application\/json/);
  });
});

describe('basicCredentials', () => {
  const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

  it.each([
    [basic('ops:secret'), { username: 'ops', password: 'secret' }],
    [basic('ops:with:colons'), { username: 'ops', password: 'with:colons' }],
    [basic('no-colon'), { username: 'no-colon', password: '' }],
    [`basic ${Buffer.from('a:b').toString('base64')}`, { username: 'a', password: 'b' }],
    ['Bearer abc', null],
    ['Basic not base64!', null],
    [undefined, null],
  ])('%s', (header, expected) => expect(basicCredentials(header)).toEqual(expected));
});
