import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { HttpService } from '@nestjs/axios';
import axios from 'axios';
import { SourceFetchError } from '@app/leads';
import { hubspotProperties, retryAfterMs, SourceRecordFetcher } from './record.fetcher';
import { SourcesConfig } from './sources.config';
import { FACEBOOK_LEAD, HUBSPOT_CONTACT, PIPEDRIVE_PERSON_ANSWER, TEST_SOURCES } from './testing/native-fixtures';

describe('SourceRecordFetcher against a real HTTP server', () => {
  let server: Server;
  let base: string;
  let fetcher: SourceRecordFetcher;
  let config: SourcesConfig;
  const seen: IncomingMessage[] = [];
  let handler: (request: IncomingMessage, response: ServerResponse) => void;

  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.push(request);
      handler(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    config = { sources: [], file: null, hubspotApiUrl: base, pipedriveApiUrl: base, facebookGraphUrl: `${base}/v23.0`, publicBaseUrl: null };
    // Generous: a busy CI machine must not turn an answer into a timeout. The timeout has its own fetcher below.
    fetcher = new SourceRecordFetcher(new HttpService(axios.create()), config, { timeoutMs: 10_000, maxResponseBytes: 64 * 1024 });
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => (seen.length = 0));

  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => (_request: IncomingMessage, response: ServerResponse) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  };

  it('fetches a HubSpot contact with the token and the properties the mappings read (200)', async () => {
    handler = json(200, HUBSPOT_CONTACT);
    const source = { ...TEST_SOURCES.hubspot, mapping: '$default ~> | prospect | { "vin": $$.record.properties.vin_number } |' };
    expect(await fetcher.fetch(source, { platform: 'hubspot', object: 'contact', id: '123' })).toEqual(HUBSPOT_CONTACT);
    const url = new URL(seen[0].url!, base);
    expect(url.pathname).toBe('/crm/v3/objects/contacts/123');
    expect(url.searchParams.get('properties')!.split(',')).toEqual(expect.arrayContaining(['firstname', 'email', 'vin_number']));
    expect(seen[0].headers.authorization).toBe('Bearer hs-token');
  });

  it('fetches a Pipedrive person with x-api-token, and a Facebook lead with the page token and appsecret_proof', async () => {
    handler = json(200, PIPEDRIVE_PERSON_ANSWER);
    await fetcher.fetch(TEST_SOURCES.pipedrive, { platform: 'pipedrive', object: 'person', id: '42' });
    expect(seen[0].url).toBe('/api/v2/persons/42');
    expect(seen[0].headers['x-api-token']).toBe('pd-token');
    handler = json(200, FACEBOOK_LEAD);
    expect(await fetcher.fetch(TEST_SOURCES.facebook, { platform: 'facebook', object: 'leadgen', id: '123123123123' })).toEqual(FACEBOOK_LEAD);
    const url = new URL(seen[1].url!, base);
    expect(url.pathname).toBe('/v23.0/123123123123');
    expect(url.searchParams.get('access_token')).toBe('fb-page-token');
    expect(url.searchParams.get('appsecret_proof')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a 404 is permanent; the reason names platform, status and id, never the token', async () => {
    handler = json(404, { status: 'error', message: 'resource not found' });
    const error: SourceFetchError = await fetcher.fetch(TEST_SOURCES.facebook, { platform: 'facebook', object: 'leadgen', id: '9' }).catch((e: SourceFetchError) => e) as SourceFetchError;
    expect(error).toBeInstanceOf(SourceFetchError);
    expect(error).toMatchObject({ kind: 'permanent', statusCode: 404, retryAfterMs: null });
    expect(error.reason).toBe('Facebook Graph answered 404 for leadgen 9: the record does not exist (or not for this token) (source "fb").');
    expect(error.reason).not.toContain('fb-page-token');
    for (const status of [400, 401, 403, 410]) {
      handler = json(status, {});
      await expect(fetcher.fetch(TEST_SOURCES.hubspot, { platform: 'hubspot', object: 'contact', id: '1' })).rejects.toMatchObject({ kind: 'permanent', statusCode: status });
    }
  });

  it('a 503 or 429 is transient, with Retry-After', async () => {
    handler = json(503, {}, { 'retry-after': '7' });
    await expect(fetcher.fetch(TEST_SOURCES.hubspot, { platform: 'hubspot', object: 'contact', id: '1' })).rejects.toMatchObject({ kind: 'transient', statusCode: 503, retryAfterMs: 7000 });
    handler = json(429, {}, { 'retry-after': '2' });
    await expect(fetcher.fetch(TEST_SOURCES.pipedrive, { platform: 'pipedrive', object: 'person', id: '1' })).rejects.toMatchObject({ kind: 'transient', statusCode: 429, retryAfterMs: 2000 });
  });

  it('a timeout or a refused connection is transient', async () => {
    handler = () => undefined; // never answers
    const impatient = new SourceRecordFetcher(new HttpService(axios.create()), config, { timeoutMs: 300, maxResponseBytes: 64 * 1024 });
    const error: SourceFetchError = await impatient.fetch(TEST_SOURCES.hubspot, { platform: 'hubspot', object: 'contact', id: '5' }).catch((e: SourceFetchError) => e) as SourceFetchError;
    expect(error).toMatchObject({ kind: 'transient', statusCode: null });
    expect(error.reason).toBe('HubSpot could not be reached for contact 5: no answer within 300 ms (source "hubspot-main").');
    const closed: SourcesConfig = { sources: [], file: null, hubspotApiUrl: 'http://127.0.0.1:1', pipedriveApiUrl: base, facebookGraphUrl: base, publicBaseUrl: null };
    const unreachable = new SourceRecordFetcher(new HttpService(axios.create()), closed);
    await expect(unreachable.fetch(TEST_SOURCES.hubspot, { platform: 'hubspot', object: 'contact', id: '5' })).rejects.toMatchObject({ kind: 'transient', reason: expect.stringContaining('network error') });
  });

  it('an answer too large, or not an object, is permanent; a missing token is permanent without a request', async () => {
    handler = json(200, { big: 'x'.repeat(100 * 1024) });
    await expect(fetcher.fetch(TEST_SOURCES.hubspot, { platform: 'hubspot', object: 'contact', id: '1' })).rejects.toMatchObject({ kind: 'permanent' });
    handler = json(200, [1]);
    await expect(fetcher.fetch(TEST_SOURCES.hubspot, { platform: 'hubspot', object: 'contact', id: '1' })).rejects.toThrow('without a JSON object');
    seen.length = 0;
    const noToken = { ...TEST_SOURCES.hubspot, credentials: { type: 'hubspot' as const, client_secret: 'x' } };
    await expect(fetcher.fetch(noToken, { platform: 'hubspot', object: 'contact', id: '1' })).rejects.toMatchObject({ kind: 'permanent', reason: expect.stringContaining('has no access_token') });
    expect(seen).toHaveLength(0);
  });
});

describe('fetch helpers', () => {
  it('reads Retry-After in seconds or as a date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(61_000).toUTCString(), 1_000)).toBe(60_000);
    expect(retryAfterMs(undefined)).toBeNull();
    expect(retryAfterMs('soon')).toBeNull();
  });

  it('asks HubSpot for the default properties and those a mapping reads', () => {
    expect(hubspotProperties('record.properties.licence_plate & record.properties.`vin`')).toEqual(expect.arrayContaining(['firstname', 'licence_plate', 'vin']));
  });
});
