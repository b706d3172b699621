import { HttpService } from '@nestjs/axios';
import { AxiosError, AxiosResponse } from 'axios';
import { ApiTokenAuthProvider } from './auth/api-token.auth-provider';
import { WeGroupClient } from './wegroup.client';
import { WeGroupError } from './wegroup.errors';
import { lead } from '../../../test/support/lead-fixtures';

function fakeHttp(answer: () => Promise<AxiosResponse>) {
  const post = jest.fn(answer);
  return { http: { axiosRef: { post } } as unknown as HttpService, post };
}

const response = async (status: number, data: string) => ({ status, data, headers: {}, config: {}, statusText: '' }) as AxiosResponse;
const body = lead();

describe('WeGroupClient', () => {
  const credentials = () => new ApiTokenAuthProvider('tok', ['leads:write']).credentialsFor();

  it('posts the body to the distribution with the apikey header and reads the lead id', async () => {
    const { http, post } = fakeHttp(() => response(201, '{"id":"wg-1"}'));
    const result = await new WeGroupClient(http).pushLead('https://api.example', 'd-1', body, await credentials());
    expect(result).toEqual({ statusCode: 201, leadId: 'wg-1', body: '{"id":"wg-1"}' });
    expect(post).toHaveBeenCalledWith('https://api.example/v1/api/distributions/d-1/leads/customers', body, {
      headers: { Authorization: 'apikey tok', 'Content-Type': 'application/json', Accept: 'application/json' },
    });
  });

  it('sends the request id as X-Request-ID and reports the status and duration of the exchange', async () => {
    const { http, post } = fakeHttp(() => response(201, '{"id":"wg-2"}'));
    const onResponse = jest.fn();
    await new WeGroupClient(http).pushLead('https://api.example', 'd-1', body, await credentials(), { requestId: 'req-42', onResponse });
    expect(post).toHaveBeenCalledWith('https://api.example/v1/api/distributions/d-1/leads/customers', body, {
      headers: { Authorization: 'apikey tok', 'Content-Type': 'application/json', Accept: 'application/json', 'X-Request-ID': 'req-42' },
    });
    expect(onResponse).toHaveBeenCalledWith(201, expect.any(Number));
  });

  it('reports a network error as an exchange without status', async () => {
    const error = Object.assign(new AxiosError('socket hang up'), { code: 'ECONNRESET' });
    const onResponse = jest.fn();
    const client = new WeGroupClient(fakeHttp(() => Promise.reject(error)).http);
    await expect(client.pushLead('https://x', 'd', body, await credentials(), { onResponse })).rejects.toMatchObject({ kind: 'transient' });
    expect(onResponse).toHaveBeenCalledWith(null, expect.any(Number));
  });

  // Whether an answer is worth another try is the delivery policy's call (delivery-policy.spec.ts).
  it('throws on an answer other than 2xx, keeping the status and body, and leaves classifying it to the delivery policy', async () => {
    const transient = new WeGroupClient(fakeHttp(() => response(503, 'busy')).http);
    await expect(transient.pushLead('https://x', 'd', body, await credentials())).rejects.toMatchObject({
      kind: null,
      statusCode: 503,
      body: 'busy',
      message: 'WeGroup answered 503: busy',
    });
    const permanent = new WeGroupClient(fakeHttp(() => response(422, '{"detail":"bad"}')).http);
    await expect(permanent.pushLead('https://x', 'd', body, await credentials())).rejects.toMatchObject({ kind: null, statusCode: 422 });
  });

  it('treats network errors as transient', async () => {
    const error = Object.assign(new AxiosError('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const client = new WeGroupClient(fakeHttp(() => Promise.reject(error)).http);
    await expect(client.pushLead('https://x', 'd', body, await credentials())).rejects.toMatchObject({ kind: 'transient', statusCode: null });
  });

  it('refuses to call WeGroup without leads:write, naming the missing scope', async () => {
    const { http, post } = fakeHttp(() => response(201, '{}'));
    const readOnly = await new ApiTokenAuthProvider('tok', ['leads:read']).credentialsFor();
    const attempt = new WeGroupClient(http).pushLead('https://x', 'd', body, readOnly);
    await expect(attempt).rejects.toBeInstanceOf(WeGroupError);
    await expect(attempt).rejects.toMatchObject({ kind: 'permanent', message: expect.stringContaining('Missing scope leads:write') });
    expect(post).not.toHaveBeenCalled();
  });
});
