import axios, { AxiosAdapter, AxiosError, AxiosHeaders, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import http from 'node:http';
import https from 'node:https';

/** The proxy variables axios's own adapter reads (through proxy-from-env). */
const PROXY_VARIABLES = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy'];

/**
 * An axios adapter for the one exchange the worker makes per lead: a JSON POST to WeGroup
 * whose answer is kept as text, on our keep-alive agents, straight over node:http(s).
 *
 * Axios's own Node adapter costs more CPU than the exchange it makes: per request it wraps
 * the call for redirects, looks the proxy variables up, builds streams for decompression and
 * progress, and merges its options again; with a delivery at a time per connection and
 * WeGroup answering in milliseconds, that was the largest share of the worker's CPU. This
 * adapter does what the WeGroup client asks (method, URL, headers, a string body, `timeout`,
 * `validateStatus`, `responseType: 'text'`, no redirects) and hands everything else to
 * axios's adapter: a request with a cancel signal or token, redirects to follow, another
 * response type, or a process with a proxy in its environment (decided at start-up, as the
 * variables are read once).
 *
 * Errors are AxiosErrors with the codes axios gives (ECONNABORTED or ETIMEDOUT on a timeout,
 * the socket's code otherwise), so describeNetworkError reads them the same way.
 */
export function keepAliveAdapter(agents: { httpAgent: http.Agent; httpsAgent: https.Agent }, env: NodeJS.ProcessEnv = process.env): AxiosAdapter {
  const fallback = axios.getAdapter('http');
  if (PROXY_VARIABLES.some((name) => env[name])) return fallback;
  return (config) => (handles(config) ? exchange(config, agents) : fallback(config));
}

function handles(config: InternalAxiosRequestConfig): boolean {
  return (
    !config.signal &&
    !config.cancelToken &&
    !config.maxRedirects &&
    config.responseType === 'text' &&
    (config.data === undefined || typeof config.data === 'string' || Buffer.isBuffer(config.data)) &&
    !config.baseURL &&
    !config.auth &&
    !config.socketPath &&
    !config.params &&
    /^https?:\/\//i.test(config.url ?? '')
  );
}

function exchange(config: InternalAxiosRequestConfig, agents: { httpAgent: http.Agent; httpsAgent: https.Agent }): Promise<AxiosResponse<string>> {
  return new Promise((resolve, reject) => {
    const url = new URL(config.url!);
    const secure = url.protocol === 'https:';
    const body: string | Buffer | undefined = config.data;
    const headers = AxiosHeaders.from(config.headers).toJSON(true) as Record<string, string>;
    if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
    // As axios's adapter names itself when the caller does not.
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'user-agent')) headers['User-Agent'] = `axios/${axios.VERSION}`;
    const options: http.RequestOptions = { method: (config.method ?? 'get').toUpperCase(), headers, agent: secure ? agents.httpsAgent : agents.httpAgent };
    const request = (secure ? https : http).request(url, options);
    let settled = false;
    const fail = (error: AxiosError) => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    request.on('error', (error: NodeJS.ErrnoException) => fail(AxiosError.from(error, error.code, config, request)));
    if (config.timeout) {
      request.setTimeout(config.timeout, () => {
        const code = config.transitional?.clarifyTimeoutError ? AxiosError.ETIMEDOUT : AxiosError.ECONNABORTED;
        fail(new AxiosError(config.timeoutErrorMessage ?? `timeout of ${config.timeout}ms exceeded`, code, config, request));
        request.destroy();
      });
    }
    request.on('response', (incoming) => {
      const chunks: Buffer[] = [];
      let length = 0;
      incoming.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (config.maxContentLength !== undefined && config.maxContentLength > -1 && length > config.maxContentLength) {
          fail(new AxiosError(`maxContentLength size of ${config.maxContentLength} exceeded`, AxiosError.ERR_BAD_RESPONSE, config, request));
          request.destroy();
          return;
        }
        chunks.push(chunk);
      });
      incoming.on('error', (error: NodeJS.ErrnoException) => fail(AxiosError.from(error, error.code, config, request)));
      incoming.on('end', () => {
        if (settled) return;
        settled = true;
        const status = incoming.statusCode ?? 0;
        const response: AxiosResponse<string> = {
          status,
          statusText: incoming.statusMessage ?? '',
          headers: new AxiosHeaders(incoming.headers as Record<string, string>),
          data: Buffer.concat(chunks, length).toString('utf8'),
          config,
          request,
        };
        if (!config.validateStatus || config.validateStatus(status)) resolve(response);
        else {
          const code = status >= 500 ? AxiosError.ERR_BAD_RESPONSE : AxiosError.ERR_BAD_REQUEST;
          reject(new AxiosError(`Request failed with status code ${status}`, code, config, request, response));
        }
      });
    });
    request.end(body);
  });
}
