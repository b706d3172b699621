import { AxiosAdapter, AxiosError, AxiosHeaders, InternalAxiosRequestConfig, AxiosResponse } from 'axios';
import { STATUS_CODES } from 'node:http';
import { Agent, Dispatcher, EnvHttpProxyAgent } from 'undici';

export interface UndiciAdapterOptions {
  /** Connections kept per origin (the worker's concurrency). */
  connections: number;
  /** Milliseconds to establish a connection. */
  connectTimeoutMs: number;
}

/** undici's timeout errors, answered as axios answers its own timeout. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
/** undici's "the other side closed the socket", as axios reports it. */
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/**
 * The transport under `@nestjs/axios` toward WeGroup: undici's connection pool instead of
 * axios's node:http adapter, which with Node's HTTP client under it was about a sixth of the
 * worker's CPU per delivery. Axios still merges the config, runs the request transforms
 * (the body arrives here as JSON text) and its interceptors; this adapter sends, reads the
 * answer as text and settles as axios would: `validateStatus`, `timeout` (an idle timeout, as
 * axios's is: headers and each body chunk), `maxContentLength`, `signal`, AxiosError codes
 * (`ECONNABORTED` on a timeout, the socket's code otherwise). It follows no redirects.
 * HTTP_PROXY, HTTPS_PROXY and NO_PROXY are honoured, as axios's adapter honours them (an
 * https URL without HTTPS_PROXY goes through HTTP_PROXY, as undici reads them).
 */
export function undiciAdapter(options: UndiciAdapterOptions, env: NodeJS.ProcessEnv = process.env): { adapter: AxiosAdapter; dispatcher: Dispatcher } {
  const agentOptions = { connections: options.connections, connect: { timeout: options.connectTimeoutMs } };
  // The lower-case spelling first, as axios's adapter reads them.
  const httpProxy = env.http_proxy || env.HTTP_PROXY;
  const httpsProxy = env.https_proxy || env.HTTPS_PROXY;
  const dispatcher: Dispatcher =
    httpProxy || httpsProxy
      ? new EnvHttpProxyAgent({ ...agentOptions, httpProxy: httpProxy ?? '', httpsProxy: httpsProxy ?? '', noProxy: env.no_proxy || env.NO_PROXY || '' })
      : new Agent(agentOptions);
  const adapter: AxiosAdapter = async (config) => {
    const url = new URL(config.url ?? '', config.baseURL);
    const timeout = config.timeout && config.timeout > 0 ? config.timeout : undefined;
    let answer: Dispatcher.ResponseData;
    try {
      answer = await dispatcher.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: (config.method ?? 'get').toUpperCase() as Dispatcher.HttpMethod,
        headers: requestHeaders(config),
        body: requestBody(config),
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: config.signal as AbortSignal | undefined,
      });
    } catch (error) {
      throw axiosErrorOf(error, config);
    }
    let data: string;
    try {
      data = await readText(answer.body, config.maxContentLength);
    } catch (error) {
      throw axiosErrorOf(error, config);
    }
    const response: AxiosResponse<string> = {
      data,
      status: answer.statusCode,
      statusText: STATUS_CODES[answer.statusCode] ?? '',
      headers: answer.headers as AxiosResponse['headers'],
      config,
      request: undefined,
    };
    if (config.validateStatus && !config.validateStatus(response.status)) {
      const code = response.status >= 500 ? AxiosError.ERR_BAD_RESPONSE : AxiosError.ERR_BAD_REQUEST;
      throw new AxiosError(`Request failed with status code ${response.status}`, code, config, undefined, response);
    }
    return response;
  };
  return { adapter, dispatcher };
}

/** The headers as axios set them (dispatchRequest made them AxiosHeaders), set values only, lists joined. */
function requestHeaders(config: InternalAxiosRequestConfig): Record<string, string> {
  return AxiosHeaders.from(config.headers).toJSON(true) as Record<string, string>;
}

/** The body after axios's request transforms: text or bytes (an object was already turned into JSON). */
function requestBody(config: InternalAxiosRequestConfig): string | Uint8Array | undefined {
  const data: unknown = config.data;
  if (data === undefined || data === null) return undefined;
  if (typeof data === 'string' || data instanceof Uint8Array) return data;
  throw new AxiosError(`This transport sends text or bytes, not ${Object.prototype.toString.call(data)}`, AxiosError.ERR_BAD_OPTION_VALUE, config);
}

async function readText(body: Dispatcher.ResponseData['body'], maxContentLength: number | undefined): Promise<string> {
  if (maxContentLength === undefined || maxContentLength < 0) return body.text();
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    length += (chunk as Buffer).length;
    if (length > maxContentLength) {
      body.destroy();
      throw new AxiosError(`maxContentLength size of ${maxContentLength} exceeded`, AxiosError.ERR_BAD_RESPONSE);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function axiosErrorOf(error: unknown, config: InternalAxiosRequestConfig): AxiosError {
  if (error instanceof AxiosError) {
    error.config ??= config;
    return error;
  }
  const code = (error as { code?: string } | null)?.code;
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    const clarify = config.transitional?.clarifyTimeoutError;
    return new AxiosError(
      config.timeoutErrorMessage ?? `timeout of ${config.timeout}ms exceeded`,
      clarify ? AxiosError.ETIMEDOUT : AxiosError.ECONNABORTED,
      config,
    );
  }
  if ((error as Error | null)?.name === 'AbortError') return new AxiosError('canceled', AxiosError.ERR_CANCELED, config);
  // The socket's own code (ECONNREFUSED, ENOTFOUND, ECONNRESET…), else undici's, read as a reset.
  const cause = (error as { cause?: { code?: string } } | null)?.cause?.code;
  const socketCode = code !== undefined && RESET_CODES.has(code) ? (cause ?? 'ECONNRESET') : (code ?? cause);
  return AxiosError.from(error as Error, socketCode, config);
}
