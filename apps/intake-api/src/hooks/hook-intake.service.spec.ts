import { HttpStatus, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { LeadRepository, openEvent } from '@app/leads';
import type { LeadsQueue } from '@app/queue';
import { adapterFor, HookAuthError, NATIVE_DEDUP_TTL_MS, NativePayloadError, SourceAdapter, SourceDefinition, SourceRegistry } from '@app/sources';
import { ProblemException, RedisUnavailableException } from '../common/problem';
import type { RedisThrottlerStorage } from '../common/redis-throttler.storage';
import type { SsoConnectionsService } from '../connections/sso-connections.service';
import { readIntakeAppConfig } from '../intake.config';
import { ApiKeyGuard, SourceRequest } from '../leads/api-key.guard';
import { LeadIntakeService } from '../leads/lead-intake.service';
import type { LeadStatusService } from '../leads/lead-status.service';
import type { OpsAuthenticator } from '../ops/ops-authenticator';
import { HookIntakeService } from './hook-intake.service';
import { nativeDedupId } from './hook-request';
import { HookThrottle } from './hook-throttle';
import { BulkEntry, fakeLeadsQueue } from '../testing/fake-leads-queue';

jest.mock('@app/sources', () => ({ ...jest.requireActual('@app/sources'), adapterFor: jest.fn() }));

const ENV = {
  INTAKE_API_KEYS: 'acme:acme-key-0123456789abcdef',
  OPS_USERNAME: 'ops',
  OPS_PASSWORD: 'ops-password',
  DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
};


/** A throttler storage that never blocks, and counts. */
function fakeStorage() {
  return {
    increment: jest.fn(async () => ({ totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 })),
    blockedFor: jest.fn(async () => 0),
  };
}

const sources: SourceDefinition[] = [
  { name: 'tf', type: 'typeform', declaredIn: 'SOURCES_FILE', credentials: { type: 'typeform', secret: 's' }, distributionId: 'dist-tf' },
  { name: 'pd', type: 'pipedrive', declaredIn: 'SOURCES_FILE', credentials: { type: 'pipedrive', basic_auth: { username: 'u', password: 'p' } } },
  { name: 'js', type: 'json', declaredIn: 'SOURCES_FILE', credentials: { type: 'json', api_key: 'js-key-0123456789abcdef', webhook_secrets: [] }, mapping: '$' },
];

function adapter(overrides: Partial<SourceAdapter>): SourceAdapter {
  return {
    type: 'typeform',
    platform: 'Typeform',
    authMode: () => 'signature',
    authenticate: () => undefined,
    split: () => ({ events: [], ignored: [] }),
    fetchFor: () => null,
    mappingInput: () => null,
    ...overrides,
  };
}

function setup(fake: Partial<SourceAdapter> = {}) {
  (adapterFor as jest.Mock).mockImplementation((type: string) => adapter({ platform: type === 'pipedrive' ? 'Pipedrive' : 'Typeform', ...fake }));
  const queue = fakeLeadsQueue();
  const config = readIntakeAppConfig(ENV);
  const registry = new SourceRegistry([...sources, ...SourceRegistry.fromApiKeys(config.intake.apiKeys, config.intake.webhookSecrets)]);
  const connections = { enabled: false, hasConnection: jest.fn(async () => false) } as unknown as SsoConnectionsService;
  const repository = new LeadRepository(queue as unknown as LeadsQueue, config.dataKeyring, config.retention, config.retry);
  const intake = new LeadIntakeService(repository, config.routes, config.dataKeyring, connections);
  const apiKeys = new ApiKeyGuard(registry.apiKeys(), registry.webhookSecrets(), new Reflector(), {} as OpsAuthenticator);
  const storage = fakeStorage();
  const throttle = new HookThrottle(storage as unknown as RedisThrottlerStorage, config.intake);
  const status = { find: jest.fn(async (id: string) => ({ id, status: 'queued' })) } as unknown as LeadStatusService;
  const hooks = new HookIntakeService(registry, intake, status, apiKeys, throttle, config.dataKeyring, config.intake, config.sources);
  return { hooks, queue, storage, config };
}

function request(body: unknown, headers: Record<string, string> = {}): SourceRequest {
  const raw = Buffer.from(JSON.stringify(body));
  return { method: 'POST', url: '/v1/hooks/x', headers: { 'content-type': 'application/json', host: 'h', ...headers }, query: {}, body, rawBody: raw, ip: '10.0.0.9', id: 'req-1' } as unknown as SourceRequest;
}

async function refusal(promise: Promise<unknown>): Promise<ProblemException> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ProblemException) return error;
    throw error;
  }
  throw new Error('expected a problem');
}

describe('HookIntakeService', () => {
  let log: jest.SpyInstance;
  let warn: jest.SpyInstance;
  beforeEach(() => {
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    log.mockRestore();
    warn.mockRestore();
  });

  it('stores each event as a sealed native lead job, deduplicated on its event id', async () => {
    const payload = { event_id: 'e1', form_response: { answers: [] } };
    const { hooks, queue, config } = setup({ split: () => ({ events: [{ eventId: 'e1', payload }, { eventId: 'e2', payload: { n: 2 } }], ignored: [{ eventId: 'x', reason: 'not a lead' }] }) });
    const outcome = await hooks.receive('tf', request(payload), undefined);
    expect(outcome.kind).toBe('native');
    if (outcome.kind !== 'native') return;
    expect(outcome.answer).toMatchObject({ source: 'tf', accepted: 2, replayed: 0, ignored: 1, ignored_events: [{ event_id: 'x', reason: 'not a lead' }] });
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    const [first] = queue.addBulk.mock.calls[0][0] as BulkEntry[];
    expect(first.opts?.deduplication).toEqual({ id: nativeDedupId('tf', 'e1'), ttl: NATIVE_DEDUP_TTL_MS });
    expect(first.data).toMatchObject({ source: 'tf', distribution_id: 'dist-tf', sealed_lead: null, request_id: 'req-1', native: { type: 'typeform', event_id: 'e1' } });
    expect(first.data.native!.sealed_event).not.toContain('form_response');
    expect(openEvent(config.dataKeyring, first.data)).toEqual(payload);
    expect(outcome.answer.leads[0]).toEqual({ event_id: 'e1', id: first.data.lead_id, status: 'accepted', location: `/v1/leads/${first.data.lead_id}` });
  });

  it('answers a redelivery as replayed, with the first lead and no new job', async () => {
    const { hooks, queue } = setup({ split: () => ({ events: [{ eventId: 'e1', payload: { attempt: Math.random() } }], ignored: [] }) });
    const first = await hooks.receive('tf', request({}), undefined);
    const again = await hooks.receive('tf', request({}), undefined);
    if (first.kind !== 'native' || again.kind !== 'native') throw new Error('native expected');
    expect(again.answer).toMatchObject({ accepted: 0, replayed: 1, leads: [{ id: first.answer.leads[0].id, status: 'replayed' }] });
    expect(queue.stored.size).toBe(1);
  });

  it('refuses a request that is not the platform: 401 naming the header, nothing stored, counted against the address', async () => {
    const { hooks, queue, storage } = setup({
      authenticate: () => {
        throw new HookAuthError('The Typeform-Signature header does not match the body.', 'Typeform-Signature');
      },
    });
    const problem = await refusal(hooks.receive('tf', request({}), undefined));
    expect(problem.getStatus()).toBe(HttpStatus.UNAUTHORIZED);
    expect(problem.errors).toEqual([{ field: 'Typeform-Signature', message: expect.any(String) }]);
    expect(queue.addBulk).not.toHaveBeenCalled();
    expect(storage.increment).toHaveBeenCalledWith('ip:10.0.0.9', expect.any(Number), expect.any(Number), expect.any(Number), 'hooks-refused');
  });

  it('answers 404 for an unknown source, and 429 once the address is over its budget', async () => {
    const { hooks, storage } = setup();
    expect((await refusal(hooks.receive('nope', request({}), undefined))).getStatus()).toBe(HttpStatus.NOT_FOUND);
    storage.increment.mockResolvedValueOnce({ totalHits: 9, timeToExpire: 60, isBlocked: true, timeToBlockExpire: 42 });
    const limited = await refusal(hooks.receive('nope', request({}), undefined));
    expect(limited.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
    expect(limited.headers).toEqual({ 'Retry-After': '42' });
  });

  it('refuses a payload the type does not take (400 listing the problems), but answers Pipedrive 200 with it ignored', async () => {
    const { hooks } = setup({
      split: () => {
        throw new NativePayloadError('form_response is missing', [{ field: 'form_response', message: 'is required' }]);
      },
    });
    const problem = await refusal(hooks.receive('tf', request({}), undefined));
    expect(problem.getStatus()).toBe(HttpStatus.BAD_REQUEST);
    expect(problem.errors).toEqual([{ field: 'form_response', message: 'is required' }]);
    const lenient = await hooks.receive('pd', request({}), undefined);
    expect(lenient).toMatchObject({ kind: 'native', answer: { accepted: 0, ignored: 1, ignored_events: [{ event_id: null, reason: expect.stringContaining('form_response is missing') }] } });
    expect(warn).toHaveBeenCalled();
  });

  it('answers 503 when Redis does not store the events', async () => {
    const { hooks, queue } = setup({ split: () => ({ events: [{ eventId: 'e1', payload: {} }], ignored: [] }) });
    queue.down = true;
    await expect(hooks.receive('tf', request({}), undefined)).rejects.toBeInstanceOf(RedisUnavailableException);
  });

  it('a json source with a mapping: one event, keyed by Idempotency-Key, else a digest of the body', async () => {
    const { hooks } = setup();
    const key = 'js-key-0123456789abcdef';
    const keyed = await hooks.receive('js', request({ a: 1 }, { 'x-api-key': key }), 'order-7');
    expect(keyed).toMatchObject({ kind: 'native', answer: { accepted: 1, leads: [{ event_id: 'order-7' }] } });
    const first = await hooks.receive('js', request({ b: 2 }, { 'x-api-key': key }), undefined);
    const again = await hooks.receive('js', request({ b: 2 }, { 'x-api-key': key }), undefined);
    if (first.kind !== 'native' || again.kind !== 'native') throw new Error('native expected');
    expect(first.answer.leads[0].event_id).toMatch(/^body:[0-9a-f]{64}$/);
    expect(again.answer.leads[0]).toMatchObject({ event_id: first.answer.leads[0].event_id, status: 'replayed' });
    // Another source's key is not this one's.
    const other = await refusal(hooks.receive('js', request({ b: 2 }, { 'x-api-key': 'acme-key-0123456789abcdef' }), undefined));
    expect(other.getStatus()).toBe(HttpStatus.UNAUTHORIZED);
    expect(other.message).toContain('X-API-Key');
  });

  it('a json source without a mapping is POST /v1/leads: validated, accepted, replayed', async () => {
    const { hooks } = setup();
    const lead = { prospect: { first_name: 'Foo', last_name: 'Bar', external_ref: { external_ref: 'r-1' } } };
    const headers = { 'x-api-key': 'acme-key-0123456789abcdef' };
    const accepted = await hooks.receive('acme', request(lead, headers), undefined);
    expect(accepted).toEqual({ kind: 'lead', id: expect.any(String), replay: null });
    const replay = await hooks.receive('acme', request(lead, headers), undefined);
    expect(replay).toMatchObject({ kind: 'lead', id: (accepted as { id: string }).id, replay: { status: 'queued' } });
    const invalid = await refusal(hooks.receive('acme', request({ prospect: {} }, headers), undefined));
    expect(invalid.getStatus()).toBe(HttpStatus.BAD_REQUEST);
  });

  it('before the body: leaves unread a request to an unknown source, or failing a header-only check', async () => {
    const { hooks } = setup({
      authenticate: (_source, native) => {
        if (native.headers.authorization !== 'Basic ok') throw new HookAuthError('wrong basic auth', 'Authorization');
      },
    });
    const early = (source: string, headers: Record<string, string> = {}) =>
      hooks.beforeBody({ method: 'POST', url: `/v1/hooks/${source}`, params: { source }, headers, query: {}, ip: '10.0.0.9' } as never);
    expect(await early('nope')).toBe(true);
    expect(await early('pd')).toBe(true);
    expect(await early('pd', { authorization: 'Basic ok' })).toBe(false);
    // A signature covers the body: read first.
    expect(await early('tf')).toBe(false);
    expect(await early('acme', { 'x-api-key': 'wrong' })).toBe(true);
    expect(await early('acme', { 'x-api-key': 'acme-key-0123456789abcdef' })).toBe(false);
  });
});
