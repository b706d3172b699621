import { createServer, IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * Real HTTP servers standing in for the APIs the worker fetches records from (never mocks at
 * the function level): HubSpot's CRM API, Pipedrive's API v2 and Meta's Graph API. Each
 * serves the records it was given (the documented answers in test/fixtures/native), checks
 * the credential the way the platform does, records every request, and fails on demand.
 */

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The record id the path named, or null when the path matched no route. */
  id: string | null;
  /** What the fake answered. */
  status: number;
  at: number;
}

interface Fault {
  status: number;
  remaining: number;
  body?: unknown;
}

interface PlatformRules {
  /** The record id a GET path names, or null (answered 404 as an unknown route). */
  idOf(path: string): string | null;
  /** Whether the request carries the expected credential. */
  authorized(request: IncomingMessage, query: URLSearchParams): boolean;
  /** The platform's error body for a status. */
  errorBody(status: number, id: string | null): unknown;
}

export class FakePlatformApi {
  readonly requests: RecordedRequest[] = [];
  url = '';
  private readonly records = new Map<string, unknown>();
  private readonly faults = new Map<string, Fault[]>();
  private readonly server: Server;

  constructor(
    readonly name: string,
    private readonly rules: PlatformRules,
  ) {
    this.server = createServer((request, response) => this.handle(request, response));
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Serves `body` (a documented answer) for this record id. */
  record(id: string | number, body: unknown): this {
    this.records.set(String(id), body);
    return this;
  }

  /** The next `times` requests for this id get `status` (then the record, or the next fault). */
  failNext(id: string | number, status: number, times = 1, body?: unknown): this {
    const queue = this.faults.get(String(id)) ?? [];
    queue.push({ status, remaining: times, body });
    this.faults.set(String(id), queue);
    return this;
  }

  /** Every request for this id gets `status`. */
  failAlways(id: string | number, status: number, body?: unknown): this {
    return this.failNext(id, status, Number.POSITIVE_INFINITY, body);
  }

  requestsFor(id: string | number): RecordedRequest[] {
    return this.requests.filter((request) => request.id === String(id));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://fake');
    const id = request.method === 'GET' ? this.rules.idOf(url.pathname) : null;
    const answer = (status: number, body: unknown) => {
      this.requests.push({
        method: request.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: request.headers,
        id,
        status,
        at: Date.now(),
      });
      const text = JSON.stringify(body);
      response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      response.end(text);
    };
    // Drain any body: these are GET routes, but a stray body must not stall the socket.
    request.resume();
    request.on('end', () => {
      if (id === null) return answer(404, this.rules.errorBody(404, null));
      if (!this.rules.authorized(request, url.searchParams)) return answer(401, this.rules.errorBody(401, id));
      const fault = this.faults.get(id)?.[0];
      if (fault) {
        fault.remaining -= 1;
        if (fault.remaining <= 0) this.faults.get(id)?.shift();
        return answer(fault.status, fault.body ?? this.rules.errorBody(fault.status, id));
      }
      const record = this.records.get(id);
      if (record === undefined) return answer(404, this.rules.errorBody(404, id));
      return answer(200, record);
    });
  }
}

function bearer(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization ?? '';
  return /^bearer (.+)$/i.exec(header)?.[1];
}

/**
 * HubSpot CRM API: `GET /crm/v3/objects/contacts/{contactId}` with a private app's token as
 * `Authorization: Bearer …` (HubSpot, "Private apps"; "CRM API | Contacts"). Errors are
 * `{status: "error", message, correlationId, category}`.
 */
export function startFakeHubspot(accessToken: string): Promise<FakePlatformApi> {
  return new FakePlatformApi('HubSpot', {
    idOf: (path) => /^\/crm\/v3\/objects\/contacts\/([^/]+)$/.exec(path)?.[1] ?? null,
    authorized: (request) => bearer(request) === accessToken,
    errorBody: (status, id) => ({
      status: 'error',
      message: status === 401 ? 'Authentication credentials not found.' : status === 404 ? `resource not found: contact ${id ?? ''}`.trim() : 'Service unavailable',
      correlationId: '00000000-0000-4000-8000-000000000000',
      category: status === 401 ? 'INVALID_AUTHENTICATION' : status === 404 ? 'OBJECT_NOT_FOUND' : 'INTERNAL_ERROR',
    }),
  }).listen();
}

/**
 * Pipedrive API v2: `GET /api/v2/persons/{id}` with the API token in the `x-api-token` header
 * (Pipedrive, "Core API concepts: authentication"; the `api_token` query parameter is accepted
 * too). Errors are `{success: false, error, error_info}`.
 */
export function startFakePipedrive(apiToken: string): Promise<FakePlatformApi> {
  return new FakePlatformApi('Pipedrive', {
    idOf: (path) => /^\/api\/v2\/persons\/(\d+)$/.exec(path)?.[1] ?? null,
    authorized: (request, query) => request.headers['x-api-token'] === apiToken || query.get('api_token') === apiToken,
    errorBody: (status) => ({
      success: false,
      error: status === 401 ? 'unauthorized access' : status === 404 ? 'Person not found' : 'Service unavailable',
      error_info: 'Please check developers.pipedrive.com',
    }),
  }).listen();
}

/**
 * Meta Graph API: `GET /{version}/{leadgen_id}` (the version segment is optional here, as
 * FACEBOOK_GRAPH_URL carries it) with the Page access token as the `access_token` query
 * parameter or `Authorization: Bearer …` (Meta, "Retrieving Leads"). Errors are
 * `{error: {message, type, code, fbtrace_id}}`.
 */
export function startFakeGraph(pageAccessToken: string): Promise<FakePlatformApi> {
  return new FakePlatformApi('Graph', {
    idOf: (path) => /^(?:\/v\d+\.\d+)?\/(\d+)$/.exec(path)?.[1] ?? null,
    authorized: (request, query) => query.get('access_token') === pageAccessToken || bearer(request) === pageAccessToken,
    errorBody: (status) => ({
      error: {
        message: status === 401 ? 'Invalid OAuth access token - Cannot parse access token' : status === 404 ? 'Unsupported get request.' : 'Service temporarily unavailable',
        type: status === 401 ? 'OAuthException' : 'GraphMethodException',
        code: status === 401 ? 190 : status === 404 ? 100 : 2,
        fbtrace_id: 'AbCdEfGhIjK',
      },
    }),
  }).listen();
}
