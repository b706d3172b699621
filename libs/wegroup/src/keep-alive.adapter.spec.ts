import axios, { AxiosError, AxiosInstance } from 'axios';
import http from 'node:http';
import https from 'node:https';
import { AddressInfo } from 'node:net';
import { keepAliveAdapter } from './keep-alive.adapter';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: unknown;
}

/** A real HTTP server on a free port: answers as `answer` says, records every request. */
async function startServer(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, socket: req.socket });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url, seen, close };
}

/** The WeGroup module's axios options, with this adapter. */
function client(agents: { httpAgent: http.Agent; httpsAgent: https.Agent }, timeout = 2_000): AxiosInstance {
  return axios.create({
    timeout,
    maxRedirects: 0,
    validateStatus: () => true,
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    ...agents,
    adapter: keepAliveAdapter(agents, {}),
  });
}

describe('keepAliveAdapter', () => {
  let agents: { httpAgent: http.Agent; httpsAgent: https.Agent };
  let server: Awaited<ReturnType<typeof startServer>> | undefined;

  beforeEach(() => {
    agents = { httpAgent: new http.Agent({ keepAlive: true, maxSockets: 4 }), httpsAgent: new https.Agent({ keepAlive: true }) };
  });

  afterEach(async () => {
    agents.httpAgent.destroy();
    agents.httpsAgent.destroy();
    await server?.close();
    server = undefined;
  });

  it('posts the JSON body with the headers given, and answers the status, headers and body as text', async () => {
    server = await startServer((_req, res) => res.writeHead(201, { 'content-type': 'application/json', 'retry-after': '7' }).end('{"id":"wg-1"}'));
    const response = await client(agents).post(`${server.url}/v1/api/distributions/d%2F1/leads/customers`, { prospect: { first_name: 'Foo' } }, {
      headers: { Authorization: 'apikey tok', 'Content-Type': 'application/json', Accept: 'application/json', 'X-Request-ID': 'req-1' },
    });
    expect(response.status).toBe(201);
    expect(response.data).toBe('{"id":"wg-1"}');
    expect(response.headers['retry-after']).toBe('7');
    expect(server.seen).toHaveLength(1);
    expect(server.seen[0]).toMatchObject({ method: 'POST', url: '/v1/api/distributions/d%2F1/leads/customers', body: '{"prospect":{"first_name":"Foo"}}' });
    expect(server.seen[0].headers).toMatchObject({
      authorization: 'apikey tok',
      'content-type': 'application/json',
      accept: 'application/json',
      'x-request-id': 'req-1',
      'content-length': String(Buffer.byteLength('{"prospect":{"first_name":"Foo"}}')),
    });
  });

  it('keeps the connection open between requests', async () => {
    server = await startServer((_req, res) => res.writeHead(200).end('ok'));
    const api = client(agents);
    for (let i = 0; i < 3; i++) await api.post(`${server.url}/x`, { i });
    expect(server.seen).toHaveLength(3);
    expect(new Set(server.seen.map((request) => request.socket)).size).toBe(1);
  });

  it('returns any status when validateStatus accepts it, and throws an AxiosError with the response otherwise', async () => {
    server = await startServer((_req, res) => res.writeHead(503).end('busy'));
    expect((await client(agents).post(`${server.url}/x`, {})).status).toBe(503);
    const strict = axios.create({ responseType: 'text', maxRedirects: 0, ...agents, adapter: keepAliveAdapter(agents, {}) });
    const error = await strict.post(`${server.url}/x`, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AxiosError);
    expect(error).toMatchObject({ code: AxiosError.ERR_BAD_RESPONSE, response: { status: 503, data: 'busy' } });
  });

  it('gives up after the timeout with the code axios gives a timeout', async () => {
    server = await startServer(() => {
      // never answers
    });
    const error = await client(agents, 100).post(`${server.url}/slow`, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AxiosError);
    expect(error).toMatchObject({ code: 'ECONNABORTED', message: 'timeout of 100ms exceeded' });
  });

  it('reports a refused connection with the socket error code', async () => {
    server = await startServer((_req, res) => res.end());
    const { url } = server;
    await server.close();
    server = undefined;
    const error = await client(agents).post(`${url}/x`, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AxiosError);
    expect(error).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it("leaves a request it does not make (here: one with a cancel signal) to axios's own adapter, which still answers it", async () => {
    server = await startServer((_req, res) => res.writeHead(200).end('ok'));
    const response = await client(agents).get(`${server.url}/y`, { signal: new AbortController().signal });
    expect(response.data).toBe('ok');
    expect(server.seen[0].headers['accept-encoding']).toBeDefined();
  });

  it("is axios's own adapter when the environment names a proxy, which only that one follows", () => {
    expect(keepAliveAdapter(agents, { HTTPS_PROXY: 'http://proxy.example:3128' })).toBe(axios.getAdapter('http'));
    expect(keepAliveAdapter(agents, {})).not.toBe(axios.getAdapter('http'));
  });
});
