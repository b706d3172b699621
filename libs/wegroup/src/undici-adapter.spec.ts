import axios, { AxiosError, AxiosInstance } from 'axios';
import http, { IncomingMessage, ServerResponse } from 'node:http';
import net, { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { undiciAdapter } from './undici-adapter';

interface Received {
  method?: string;
  url?: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: net.Socket;
}

/** A real HTTP server answering with `handler`, recording what it received. */
async function serve(handler: (request: IncomingMessage, response: ServerResponse, body: string) => void) {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: request.method, url: request.url, headers: request.headers, body, socket: request.socket });
      handler(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())), server };
}

/** The WeGroup module's axios options (wegroup-http.module.ts) over the adapter. */
function client(timeout = 2_000, env: NodeJS.ProcessEnv = {}, connections = 4): { http: AxiosInstance; dispatcher: Dispatcher } {
  const { adapter, dispatcher } = undiciAdapter({ connections, connectTimeoutMs: 1_000 }, env);
  const instance = axios.create({ adapter, timeout, maxRedirects: 0, validateStatus: () => true, responseType: 'text', transformResponse: [(data: unknown) => data] });
  return { http: instance, dispatcher };
}

describe('undiciAdapter', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of cleanup.splice(0).reverse()) await close();
  });
  function track<T extends { close: () => Promise<unknown> }>(thing: T): T {
    cleanup.push(() => thing.close());
    return thing;
  }

  it('posts the object as JSON with the given headers, and answers the status, headers and text', async () => {
    const server = track(
      await serve((_request, response) => {
        response.writeHead(201, { 'Content-Type': 'application/json', 'Retry-After': '7' }).end('{"id":"wg-1"}');
      }),
    );
    const { http: api, dispatcher } = client();
    track(dispatcher);
    const response = await api.post(`${server.url}/v1/api/distributions/d-1/leads/customers?x=1`, { prospect: { first_name: 'Zoë' } }, {
      headers: { Authorization: 'apikey tok', 'X-Request-ID': 'req-1' },
    });
    expect(response.status).toBe(201);
    expect(response.statusText).toBe('Created');
    expect(response.data).toBe('{"id":"wg-1"}');
    expect(response.headers['retry-after']).toBe('7');
    const [request] = server.received;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1/api/distributions/d-1/leads/customers?x=1');
    expect(JSON.parse(request.body)).toEqual({ prospect: { first_name: 'Zoë' } });
    expect(request.headers).toMatchObject({ authorization: 'apikey tok', 'x-request-id': 'req-1', 'content-type': 'application/json' });
    expect(Number(request.headers['content-length'])).toBe(Buffer.byteLength(request.body));
  });

  it('answers every status (validateStatus decides) and keeps connections alive across requests', async () => {
    const statuses = [503, 422, 200];
    const server = track(await serve((_request, response) => response.writeHead(statuses.shift()!).end('x')));
    const { http: api, dispatcher } = client(2_000, {}, 1);
    track(dispatcher);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await api.post(server.url, { i })).status);
    expect(answers).toEqual([503, 422, 200]);
    expect(new Set(server.received.map((request) => request.socket)).size).toBe(1);
  });

  it('rejects a status that validateStatus refuses as axios does, with the response', async () => {
    const server = track(await serve((_request, response) => response.writeHead(500).end('down')));
    const { adapter, dispatcher } = undiciAdapter({ connections: 1, connectTimeoutMs: 1_000 }, {});
    track(dispatcher);
    const error = (await axios.create({ adapter }).get(server.url).catch((caught: unknown) => caught)) as AxiosError;
    expect(error).toBeInstanceOf(AxiosError);
    expect(error.code).toBe(AxiosError.ERR_BAD_RESPONSE);
    expect(error.response?.status).toBe(500);
  });

  it('times out as axios does (ECONNABORTED) when no answer comes within the timeout', async () => {
    const server = track(await serve(() => undefined));
    const { http: api, dispatcher } = client(200);
    track(dispatcher);
    cleanup.push(async () => server.server.closeAllConnections());
    const error = (await api.post(server.url, {}).catch((caught: unknown) => caught)) as AxiosError;
    expect(error).toBeInstanceOf(AxiosError);
    expect(error.code).toBe('ECONNABORTED');
    expect(error.message).toBe('timeout of 200ms exceeded');
  });

  it("reports a refused connection and a reset socket with the socket's code", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { http: api, dispatcher } = client();
    track(dispatcher);
    const refused = (await api.post(`http://127.0.0.1:${port}/`, {}).catch((caught: unknown) => caught)) as AxiosError;
    expect(refused.code).toBe('ECONNREFUSED');

    const server = track(await serve((request) => request.socket.destroy()));
    const reset = (await api.post(server.url, {}).catch((caught: unknown) => caught)) as AxiosError;
    expect(reset).toBeInstanceOf(AxiosError);
    expect(reset.code).toBe('ECONNRESET');
  });

  it('refuses an answer longer than maxContentLength', async () => {
    const server = track(await serve((_request, response) => response.writeHead(200).end('x'.repeat(10_000))));
    const { http: api, dispatcher } = client();
    track(dispatcher);
    const error = (await api.get(server.url, { maxContentLength: 1_000 }).catch((caught: unknown) => caught)) as AxiosError;
    expect(error.code).toBe(AxiosError.ERR_BAD_RESPONSE);
    expect(error.message).toBe('maxContentLength size of 1000 exceeded');
  });

  it('follows no redirect: a 302 is the answer', async () => {
    const server = track(await serve((_request, response) => response.writeHead(302, { Location: '/elsewhere' }).end()));
    const { http: api, dispatcher } = client();
    track(dispatcher);
    const response = await api.post(server.url, {});
    expect(response.status).toBe(302);
    expect(server.received).toHaveLength(1);
  });

  it('goes through the proxy HTTP_PROXY names, but not for a NO_PROXY host', async () => {
    const target = track(await serve((_request, response) => response.writeHead(200).end('through')));
    const tunnels: string[] = [];
    const proxy = http.createServer((_request, response) => response.writeHead(405).end());
    proxy.on('connect', (request: IncomingMessage, socket: net.Socket, head: Buffer) => {
      tunnels.push(request.url ?? '');
      const [host, port] = (request.url ?? '').split(':');
      const upstream = net.connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket).pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanup.push(async () => {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    });
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    const proxied = client(2_000, { HTTP_PROXY: proxyUrl });
    track(proxied.dispatcher);
    expect((await proxied.http.post(target.url, {})).data).toBe('through');
    expect(tunnels).toEqual([new URL(target.url).host]);

    const bypassed = client(2_000, { HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' });
    track(bypassed.dispatcher);
    expect((await bypassed.http.post(target.url, {})).data).toBe('through');
    expect(tunnels).toHaveLength(1);
  });
});
