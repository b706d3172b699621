import { Logger } from '@nestjs/common';
import { Job, UnrecoverableError } from 'bullmq';
import type Redis from 'ioredis';
import { Admission, CircuitBreaker, LeadsQueue } from '@app/queue';
import { randomBytes } from 'node:crypto';
import { Keyring } from '@app/config';
import {
  callbackUrl,
  DeliverLeadJobData,
  DeliveryResult,
  LeadBody,
  LeadMappingError,
  LeadRepository,
  MAX_RATE_LIMIT_PAUSE_MS,
  openLead,
  openLogLine,
  sealEvent,
  sealLead,
  SourceFetchError,
  verifyCallbackToken,
} from '@app/leads';
import { NativeEvent, NativeLeadMapper, SourceDefinition, SourceRegistry } from '@app/sources';
import { ApiTokenAuthProvider, WeGroupClient, WeGroupError } from '@app/wegroup';
import { LeadDeliveryProcessor, RetryableDeliveryError } from './lead-delivery.processor';
import { serializeError } from '@app/observability';
import { WorkerMetrics } from './worker.metrics';
import { LeadEventEmitter } from '@app/events';
import { readWorkerAppConfig } from './worker.config';
import { lead } from '../../../test/support/lead-fixtures';

const ENV = {
  WEGROUP_API_URL: 'http://wegroup.test',
  DELIVERY_RETRY_SCHEDULE: '5,300',
  DATA_ENCRYPTION_KEY: `test:${randomBytes(32).toString('base64')}`,
};
const config = readWorkerAppConfig(ENV);
const LEAD = lead() as LeadBody;

function fakeJob(attemptsMade = 0) {
  const data: DeliverLeadJobData = {
    lead_id: 'lead-1',
    source: 'crm',
    distribution_id: 'dist-1',
    received_at: '2026-01-01T00:00:00.000Z',
    sealed_lead: sealLead(config.dataKeyring, LEAD),
    body_hash: 'hash',
  };
  const log = jest.fn().mockResolvedValue(1);
  return { job: { id: 'lead-1', data, attemptsMade, log } as unknown as Job<DeliverLeadJobData, DeliveryResult>, log };
}

const HUBSPOT: SourceDefinition = { name: 'hubspot-main', type: 'hubspot', declaredIn: 'SOURCES_FILE', credentials: { type: 'hubspot', client_secret: 'not-a-real-secret' } };
/** What HubSpot posted (a v3 event would carry ids only; a workflow body carries the record). */
const EVENT = { objectId: 101, properties: { firstname: 'Foo', lastname: 'Bar', email: 'foo.bar@example.com' } };
const MAPPED: LeadBody = { origin: 'HubSpot', prospect: { first_name: 'Foo', last_name: 'Bar', email: 'foo.bar@example.com', external_ref: { external_ref: '101', external_ref_company: 'HubSpot' } } };

/** A lead posted as HubSpot's own webhook: no body until mapped, the event sealed. */
function nativeJob(attemptsMade = 0, native: Partial<NonNullable<DeliverLeadJobData['native']>> = {}) {
  const { job, log } = fakeJob(attemptsMade);
  job.data = { ...job.data, source: 'hubspot-main', sealed_lead: null, native: { type: 'hubspot', event_id: 'evt-1', sealed_event: sealEvent(config.dataKeyring, EVENT), ...native } };
  const updateData = jest.fn(async (data: DeliverLeadJobData) => {
    job.data = data;
  });
  Object.assign(job, { updateData });
  return { job, log, updateData };
}

/** The sources lib's mapper, faked: what it returns or throws is each test's. */
function fakeMapper(map: (source: SourceDefinition, event: NativeEvent) => Promise<LeadBody> = async () => MAPPED) {
  return { map: jest.fn(map) } as unknown as NativeLeadMapper & { map: jest.Mock };
}

interface Native {
  sources?: SourceDefinition[];
  mapper?: NativeLeadMapper;
  /** PUBLIC_BASE_URL (sourcesConfig), and the worker's ALLOW_HTTP_URLS. */
  publicBaseUrl?: string | null;
  allowHttpUrls?: boolean;
}

function processorWith(pushLead: WeGroupClient['pushLead'], admission: Admission = { ok: true, probe: false }, metrics?: WorkerMetrics, native: Native = {}, events?: LeadEventEmitter) {
  const client = { pushLead: jest.fn(pushLead) } as unknown as WeGroupClient;
  // The source counters are a hash beside the queue, written with the index in one MULTI (LeadRepository.recordOutcome).
  const hincrby = jest.fn();
  const queue = { rateLimit: jest.fn().mockResolvedValue(undefined), toKey: (key: string) => `bull:leads:${key}`, state: { get: async () => fakeRedis(hincrby) } };
  const breaker = {
    admit: jest.fn().mockResolvedValue(admission),
    recordSuccess: jest.fn().mockResolvedValue(undefined),
    recordFailure: jest.fn().mockResolvedValue(null),
  };
  const processor = new LeadDeliveryProcessor(
    config.redis,
    config.wegroup,
    native.allowHttpUrls === undefined ? config.delivery : { ...config.delivery, allowHttpUrls: native.allowHttpUrls },
    config.dataKeyring,
    client,
    new ApiTokenAuthProvider('tok', ['leads:write']),
    {} as Redis,
    new LeadRepository(queue as unknown as LeadsQueue, config.dataKeyring, config.retention),
    breaker as unknown as CircuitBreaker,
    new SourceRegistry(native.sources ?? [HUBSPOT]),
    native.mapper ?? fakeMapper(),
    metrics,
    events,
    native.publicBaseUrl === undefined ? undefined : { publicBaseUrl: native.publicBaseUrl },
  );
  /** The per-source outcomes counted, as `source:outcome` (the 5-minute counters are `outcome:source`). */
  const counted = () => hincrby.mock.calls.map(([, field]) => field as string).filter((field) => !/^(accepted|delivered|failed|latency):/.test(field));
  return { processor, client, queue, breaker, counted };
}

/**
 * The state connection as the repository uses it here: reads answer nothing, a MULTI takes any
 * command (HINCRBYs go to `hincrby`) and answers no error, `exec` as given. The index scripts
 * it defines answer as `exec` does; a status change's counters (LeadIndexLayout.setStatusCall:
 * keys from the 15th, a field, increment and expiry per key from the 19th argument) go to
 * `hincrby` as the script would bump them.
 */
function fakeRedis(hincrby: jest.Mock, exec: () => Promise<unknown> = async () => []) {
  const multi = (): unknown =>
    new Proxy({}, { get: (_target, command: string, proxy) => (command === 'exec' ? exec : (...args: unknown[]) => (command === 'hincrby' && hincrby(...args), proxy)) });
  const client: Record<string, unknown> = {
    multi,
    hget: async () => null,
    hmget: async () => [null, null],
    exists: async () => 0,
    defineCommand: (name: string) => {
      client[name] = async (numberOfKeys: number, ...keysAndArgs: unknown[]) => {
        await exec();
        if (name !== 'leadIndexSetStatus') return 1;
        const [keys, args] = [keysAndArgs.slice(0, numberOfKeys), keysAndArgs.slice(numberOfKeys)];
        keys.slice(14).forEach((key, i) => hincrby(key, args[18 + 3 * i], args[19 + 3 * i]));
        return 1;
      };
    },
  };
  return client;
}

const loggedAttempt = (log: jest.Mock) => {
  const line = log.mock.calls[0][0] as string;
  // Sealed (a plain substring check could meet 'Foo' by chance in the ciphertext's base64).
  expect(Keyring.isSealed(line)).toBe(true);
  return openLogLine(config.dataKeyring, line) as unknown as Record<string, unknown>;
};

/** What a failed process() threw. */
const rejection = (promise: Promise<unknown>): Promise<Error> =>
  promise.then(
    () => {
      throw new Error('process() resolved; a failure was expected');
    },
    (error: Error) => error,
  );

describe('LeadDeliveryProcessor', () => {
  // Log lines are asserted on where they matter; the rest stay quiet.
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('pushes the lead body to its distribution and returns what WeGroup answered', async () => {
    const { processor, client } = processorWith(async () => ({ statusCode: 201, leadId: 'wg-9', body: '{"id":"wg-9"}' }));
    const { job, log } = fakeJob();
    await expect(processor.process(job)).resolves.toEqual({ status_code: 201, lead_id: 'wg-9' });
    expect(client.pushLead).toHaveBeenCalledWith('http://wegroup.test', 'dist-1', LEAD, expect.objectContaining({ scheme: 'apikey' }), expect.any(Object));
    expect(loggedAttempt(log)).toMatchObject({ attempt: 1, outcome: 'delivered', status_code: 201, error: null });
  });

  it('rethrows a transient failure with the scheduled delay, logs it and counts it for the breaker', async () => {
    const { processor, breaker, queue } = processorWith(async () => {
      throw new WeGroupError('WeGroup answered 503', 'transient', 503, 'busy');
    });
    const { job, log } = fakeJob(1);
    const failure = processor.process(job);
    await expect(failure).rejects.toBeInstanceOf(RetryableDeliveryError);
    await expect(failure).rejects.toThrow('WeGroup answered 503');
    const { delayMs } = (await failure.catch((error: RetryableDeliveryError) => error)) as RetryableDeliveryError;
    expect(delayMs).toBeGreaterThanOrEqual(240_000);
    expect(delayMs).toBeLessThanOrEqual(360_000);
    expect(loggedAttempt(log)).toMatchObject({ attempt: 2, outcome: 'transient', status_code: 503, body: 'busy', next_delay_ms: delayMs });
    expect(breaker.recordFailure).toHaveBeenCalledWith(false);
    expect(queue.rateLimit).not.toHaveBeenCalled();
  });

  it('logs no next attempt after the last one', async () => {
    const { processor } = processorWith(async () => {
      throw new WeGroupError('WeGroup answered 502', 'transient', 502);
    });
    const { job, log } = fakeJob(2);
    await expect(processor.process(job)).rejects.toThrow('WeGroup answered 502');
    expect(loggedAttempt(log)).toMatchObject({ attempt: 3, next_delay_ms: null });
  });

  it('on a 429 pauses the whole queue for Retry-After and keeps the attempt', async () => {
    const { processor, queue, breaker } = processorWith(async () => {
      throw new WeGroupError('WeGroup rate-limited the request (429)', 'transient', 429, null, 2_000);
    });
    const { job, log } = fakeJob();
    const updateData = jest.fn().mockResolvedValue(undefined);
    Object.assign(job, { updateData });
    await expect(processor.process(job)).rejects.toThrow('bullmq:rateLimitExceeded');
    expect(queue.rateLimit).toHaveBeenCalledWith(2_000);
    expect(updateData).toHaveBeenCalledWith(expect.objectContaining({ rate_limited_ms: 2_000 }));
    expect(loggedAttempt(log)).toMatchObject({ outcome: 'rate_limited', status_code: 429, next_delay_ms: 2_000 });
    expect(breaker.recordFailure).not.toHaveBeenCalled();
  });

  it('holds a lead back without calling WeGroup while the circuit is open', async () => {
    const { processor, client, queue } = processorWith(async () => ({ statusCode: 201, leadId: null, body: null }), { ok: false, state: 'open', remainingMs: 5_000 });
    const { job, log } = fakeJob();
    await expect(processor.process(job)).rejects.toThrow('bullmq:rateLimitExceeded');
    expect(queue.rateLimit).toHaveBeenCalledWith(5_000);
    expect(client.pushLead).not.toHaveBeenCalled();
    expect(log).not.toHaveBeenCalled();
  });

  it('turns a permanent failure into UnrecoverableError carrying the reason', async () => {
    const { processor } = processorWith(async () => {
      throw new WeGroupError('WeGroup answered 422: bad vin', 'permanent', 422, null);
    });
    const { job, log } = fakeJob();
    await expect(processor.process(job)).rejects.toEqual(new UnrecoverableError('WeGroup answered 422: bad vin'));
    expect(loggedAttempt(log)).toMatchObject({ outcome: 'permanent', error: 'WeGroup answered 422: bad vin' });
  });

  describe("our callback URL (WeGroup's callbacks come back to the intake)", () => {
    const ok = async () => ({ statusCode: 201, leadId: 'wg-9', body: null });
    const pushedLead = (client: WeGroupClient) => (client.pushLead as jest.Mock).mock.calls[0][2] as LeadBody;
    const jobWith = (callbacks?: string[]) => {
      const { job } = fakeJob();
      job.data.sealed_lead = sealLead(config.dataKeyring, { ...LEAD, prospect: { ...LEAD.prospect, callbacks } });
      return job;
    };

    it("adds it after the CRM's own URLs, in their order, with PUBLIC_BASE_URL; the stored lead stays as sent", async () => {
      const { processor, client } = processorWith(ok, undefined, undefined, { publicBaseUrl: 'https://leads.example.com' });
      const job = jobWith(['https://crm.example.com/cb/1', 'https://crm.example.com/cb/2']);
      const stored = job.data.sealed_lead;
      await processor.process(job);
      const url = callbackUrl(config.dataKeyring, 'https://leads.example.com', 'lead-1');
      expect(url).toMatch(/^https:\/\/leads\.example\.com\/v1\/callbacks\/wegroup\/lead-1\/[A-Za-z0-9_-]{43}$/);
      expect(verifyCallbackToken(config.dataKeyring, 'lead-1', url.split('/').at(-1)!)).toBe(true);
      expect(pushedLead(client).prospect.callbacks).toEqual(['https://crm.example.com/cb/1', 'https://crm.example.com/cb/2', url]);
      expect({ ...pushedLead(client), prospect: { ...pushedLead(client).prospect, callbacks: undefined } }).toEqual({ ...LEAD, prospect: { ...LEAD.prospect, callbacks: undefined } });
      expect(job.data.sealed_lead).toBe(stored);
      expect(openLead(config.dataKeyring, job.data)!.prospect.callbacks).toEqual(['https://crm.example.com/cb/1', 'https://crm.example.com/cb/2']);
    });

    it('sends the lead as it is without PUBLIC_BASE_URL, or with an http one unless ALLOW_HTTP_URLS', async () => {
      for (const native of [{}, { publicBaseUrl: null }, { publicBaseUrl: 'http://localhost:3000' }]) {
        const { processor, client } = processorWith(ok, undefined, undefined, native);
        await processor.process(jobWith(['https://crm.example.com/cb/1']));
        expect(pushedLead(client).prospect.callbacks).toEqual(['https://crm.example.com/cb/1']);
      }
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('PUBLIC_BASE_URL is http without ALLOW_HTTP_URLS=true'));
      const { processor, client } = processorWith(ok, undefined, undefined, { publicBaseUrl: 'http://localhost:3000', allowHttpUrls: true });
      await processor.process(jobWith());
      expect(pushedLead(client).prospect.callbacks).toEqual([callbackUrl(config.dataKeyring, 'http://localhost:3000', 'lead-1')]);
    });

    it("keeps a prospect's 20 URLs as they are and says so once", async () => {
      const { processor, client } = processorWith(ok, undefined, undefined, { publicBaseUrl: 'https://leads.example.com' });
      const twenty = Array.from({ length: 20 }, (_, n) => `https://crm.example.com/cb/${n}`);
      await processor.process(jobWith(twenty));
      expect(pushedLead(client).prospect.callbacks).toEqual(twenty);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Lead lead-1 already has 20 callback URLs/));
    });
  });

  describe('unexpected and recurring errors', () => {
    it('retries an unexpected error, keeping its message, stack and cause in the log and the sealed attempt log', async () => {
      const cause = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      const { processor, client } = processorWith(async () => {
        throw new TypeError('Cannot read properties of undefined (reading \'scopes\')', { cause });
      });
      const { job, log } = fakeJob();
      const thrown = await rejection(processor.process(job));
      expect(thrown).toBeInstanceOf(RetryableDeliveryError);
      // The job's failure reason (what the dashboard shows) names the type, no stack on the job.
      expect(thrown.message).toBe('Delivery failed unexpectedly (TypeError)');
      expect(thrown.stack).toBeUndefined();
      expect(client.pushLead).toHaveBeenCalledTimes(1);
      const entry = loggedAttempt(log);
      expect(entry).toMatchObject({
        outcome: 'transient',
        status_code: null,
        error: "TypeError: Cannot read properties of undefined (reading 'scopes'); caused by Error: socket hang up",
        next_delay_ms: expect.any(Number),
      });
      expect(entry.stack).toMatch(/^TypeError: Cannot read properties[^\n]*\n\s+at /);
      expect(entry.stack).toMatch(/\nCaused by: Error: socket hang up\n\s+at /);
      const [fields, message] = warn.mock.calls.find(([, text]) => /attempt 1 failed/.test(String(text)))!;
      expect(message).toMatch(/^Lead lead-1 attempt 1 failed \(transient, WeGroup status none, unexpected error\): Delivery failed unexpectedly \(TypeError\); next attempt in \d+ ms$/);
      expect((fields as { err: unknown }).err).toBeInstanceOf(TypeError);
      // What the JSON line carries of it: message, frames and cause, values masked.
      expect(serializeError((fields as { err: unknown }).err)).toMatchObject({
        type: 'TypeError',
        message: "Cannot read properties of undefined (reading '…')",
        stack: expect.stringMatching(/\n\s+at /),
        cause: { type: 'Error', message: 'socket hang up', code: 'ECONNRESET' },
      });
    });

    it('keeps lead data an unexpected message quotes out of the log line and the job', async () => {
      const { processor } = processorWith(async () => {
        throw new SyntaxError('Unexpected token \'o\', "Foo Bar <foo.bar@example.com>" is not valid JSON');
      });
      const { job } = fakeJob();
      const thrown = await rejection(processor.process(job));
      expect(thrown.message).toBe('Delivery failed unexpectedly (SyntaxError)');
      const [fields, message] = warn.mock.calls.find(([, text]) => /attempt 1 failed/.test(String(text)))!;
      const line = JSON.stringify({ err: serializeError((fields as { err: unknown }).err), message });
      expect(line).not.toMatch(/Foo|example\.com/);
    });

    it('fails at once when the lead was sealed with a data key that is no longer configured', async () => {
      const { processor, client, breaker } = processorWith(async () => ({ statusCode: 201, leadId: null, body: null }));
      const { job, log } = fakeJob(0);
      job.data.sealed_lead = sealLead(new Keyring({ id: 'retired', key: randomBytes(32) }), LEAD);
      const thrown = await rejection(processor.process(job));
      expect(thrown).toBeInstanceOf(UnrecoverableError);
      expect(thrown.message).toBe(
        'The lead\'s sealed data cannot be opened (Sealed with key "retired", which is not configured): check DATA_ENCRYPTION_KEY and DATA_ENCRYPTION_OLD_KEYS',
      );
      expect(thrown.stack).toBeUndefined();
      expect(client.pushLead).not.toHaveBeenCalled();
      expect(breaker.recordFailure).not.toHaveBeenCalled();
      expect(loggedAttempt(log)).toMatchObject({ outcome: 'permanent', next_delay_ms: null, stack: expect.stringContaining('UnreadableJobError') });
    });

    it('fails at once on a job it cannot read, without quoting its content', async () => {
      const { processor, client } = processorWith(async () => ({ statusCode: 201, leadId: null, body: null }));
      const unparsable = fakeJob();
      unparsable.job.data.sealed_lead = config.dataKeyring.seal('Foo Bar, not JSON');
      const thrown = await rejection(processor.process(unparsable.job));
      expect(thrown).toEqual(new UnrecoverableError("The lead's sealed data cannot be opened (its content is not JSON): check DATA_ENCRYPTION_KEY and DATA_ENCRYPTION_OLD_KEYS"));

      const malformed = fakeJob();
      delete (malformed.job.data as Partial<DeliverLeadJobData>).distribution_id;
      await expect(processor.process(malformed.job)).rejects.toEqual(
        new UnrecoverableError('The job is not a lead delivery: lead_id, distribution_id or sealed_lead is missing or malformed'),
      );
      expect(client.pushLead).not.toHaveBeenCalled();
      expect(JSON.stringify(warn.mock.calls.map(([fields, text]) => [serializeError((fields as { err?: unknown }).err), text]))).not.toContain('Foo');
    });
  });

  describe('native leads (posted as a platform\'s own webhook)', () => {
    const delivered = async () => ({ statusCode: 201, leadId: 'wg-9', body: null });
    const untouched = (breaker: ReturnType<typeof processorWith>['breaker']) => {
      expect(breaker.recordFailure).not.toHaveBeenCalled();
      expect(breaker.recordSuccess).not.toHaveBeenCalled();
    };

    it('maps the event with its source, stores the mapped lead sealed, and pushes that to WeGroup', async () => {
      const mapper = fakeMapper();
      const { processor, client, counted } = processorWith(delivered, undefined, undefined, { mapper });
      const { job, log, updateData } = nativeJob();
      await expect(processor.process(job)).resolves.toEqual({ status_code: 201, lead_id: 'wg-9' });
      expect(mapper.map).toHaveBeenCalledWith(HUBSPOT, { eventId: 'evt-1', payload: EVENT });
      expect(client.pushLead).toHaveBeenCalledWith('http://wegroup.test', 'dist-1', MAPPED, expect.anything(), expect.any(Object));
      // One write: the mapped lead, sealed, for ops; the event stays.
      expect(updateData).toHaveBeenCalledTimes(1);
      expect(Keyring.isSealed(updateData.mock.calls[0][0].sealed_lead ?? '')).toBe(true);
      expect(openLead(config.dataKeyring, job.data)).toEqual(MAPPED);
      expect(job.data.native).toMatchObject({ type: 'hubspot', event_id: 'evt-1', sealed_event: expect.any(String) });
      expect(loggedAttempt(log)).toMatchObject({ outcome: 'delivered', status_code: 201 });
      expect(counted()).toEqual(['hubspot-main:delivered']);
    });

    it('fails at once when the mapping fails, naming the fields, without calling WeGroup or touching the breaker', async () => {
      const reason = 'Mapping of source "hubspot-main" gave no prospect.first_name (prospect.first_name is required)';
      const mapper = fakeMapper(async () => {
        throw new LeadMappingError(reason, [{ field: 'prospect.first_name', message: 'is required' }]);
      });
      const { processor, client, breaker, queue, counted } = processorWith(delivered, undefined, undefined, { mapper });
      const { job, log, updateData } = nativeJob(0);
      const thrown = await rejection(processor.process(job));
      expect(thrown).toEqual(new UnrecoverableError(reason));
      expect(thrown.stack).toBeUndefined();
      expect(client.pushLead).not.toHaveBeenCalled();
      expect(updateData).not.toHaveBeenCalled();
      untouched(breaker);
      expect(queue.rateLimit).not.toHaveBeenCalled();
      expect(loggedAttempt(log)).toMatchObject({ outcome: 'permanent', status_code: null, error: reason, body: null, next_delay_ms: null });
      expect(counted()).toEqual(['hubspot-main:failed']);
      const [fields, message] = warn.mock.calls.find(([, text]) => /attempt 1 failed/.test(String(text)))!;
      expect(message).toBe(`Lead lead-1 attempt 1 failed (permanent, mapping the source's event, WeGroup not called): ${reason}`);
      expect(fields).toMatchObject({ failed_before: 'mapping', source: 'hubspot-main' });
    });

    it('maps again on the next attempt, with the mapping in force then (a fixed mapping, a lead ops retried)', async () => {
      let fixed = false;
      const mapper = fakeMapper(async () => {
        if (!fixed) throw new LeadMappingError('prospect.last_name is required');
        return MAPPED;
      });
      const { processor, client, counted } = processorWith(delivered, undefined, undefined, { mapper });
      const { job } = nativeJob();
      await expect(processor.process(job)).rejects.toEqual(new UnrecoverableError('prospect.last_name is required'));
      fixed = true;
      await expect(processor.process(job)).resolves.toEqual({ status_code: 201, lead_id: 'wg-9' });
      expect(mapper.map).toHaveBeenCalledTimes(2);
      expect(client.pushLead).toHaveBeenCalledTimes(1);
      expect(counted()).toEqual(['hubspot-main:failed', 'hubspot-main:delivered']);
    });

    it("retries a transient fetch failure on the schedule, after the platform's Retry-After, without pausing anyone or counting it for the breaker", async () => {
      const mapper = fakeMapper(async () => {
        throw new SourceFetchError('HubSpot answered 429 fetching contact 101', 'transient', 429, 20_000);
      });
      const { processor, client, breaker, queue, counted } = processorWith(delivered, undefined, undefined, { mapper });
      const { job, log } = nativeJob(0);
      const thrown = (await rejection(processor.process(job))) as RetryableDeliveryError;
      expect(thrown).toBeInstanceOf(RetryableDeliveryError);
      expect(thrown.message).toBe('HubSpot answered 429 fetching contact 101');
      expect(thrown.delayMs).toBe(20_000);
      expect(client.pushLead).not.toHaveBeenCalled();
      untouched(breaker);
      expect(queue.rateLimit).not.toHaveBeenCalled();
      expect(loggedAttempt(log)).toMatchObject({ outcome: 'transient', status_code: null, retry_after_ms: 20_000, pause_ms: null, next_delay_ms: 20_000 });
      // Not a failed lead yet: only the last attempt's failure counts.
      expect(counted()).toEqual([]);
    });

    it('fails the lead after its last attempt at a transient fetch, counting it once', async () => {
      const mapper = fakeMapper(async () => {
        throw new SourceFetchError('HubSpot answered 503 fetching contact 101', 'transient', 503);
      });
      const { processor, breaker, counted } = processorWith(delivered, undefined, undefined, { mapper });
      const { job } = nativeJob(2);
      await expect(processor.process(job)).rejects.toEqual(new UnrecoverableError('HubSpot answered 503 fetching contact 101'));
      untouched(breaker);
      expect(counted()).toEqual(['hubspot-main:failed']);
    });

    it('fails at once on a permanent fetch failure, with its reason', async () => {
      const mapper = fakeMapper(async () => {
        throw new SourceFetchError('HubSpot answered 404 fetching contact 101', 'permanent', 404);
      });
      const { processor, client, breaker } = processorWith(delivered, { ok: true, probe: true }, undefined, { mapper });
      const { job, log } = nativeJob();
      await expect(processor.process(job)).rejects.toEqual(new UnrecoverableError('HubSpot answered 404 fetching contact 101'));
      expect(client.pushLead).not.toHaveBeenCalled();
      // Even as the probe: the platform's answer says nothing about WeGroup.
      untouched(breaker);
      expect(loggedAttempt(log)).toMatchObject({ outcome: 'permanent', status_code: null, error: 'HubSpot answered 404 fetching contact 101' });
    });

    it('fails a lead whose event was erased as erased, without mapping it', async () => {
      const mapper = fakeMapper();
      const { processor, client } = processorWith(delivered, undefined, undefined, { mapper });
      const { job } = nativeJob(0, { sealed_event: null });
      await expect(processor.process(job)).rejects.toEqual(new UnrecoverableError("The lead's personal data was erased before delivery: nothing to send."));
      expect(mapper.map).not.toHaveBeenCalled();
      expect(client.pushLead).not.toHaveBeenCalled();
    });

    it('fails a lead whose source is no longer configured, naming it', async () => {
      const mapper = fakeMapper();
      const { processor, client, breaker } = processorWith(delivered, undefined, undefined, { mapper, sources: [] });
      const { job, log } = nativeJob();
      await expect(processor.process(job)).rejects.toEqual(new UnrecoverableError('Source "hubspot-main" is no longer configured (SOURCES_FILE): add it back, then retry the lead'));
      expect(mapper.map).not.toHaveBeenCalled();
      expect(client.pushLead).not.toHaveBeenCalled();
      untouched(breaker);
      expect(loggedAttempt(log)).toMatchObject({ outcome: 'permanent', error: expect.stringContaining('no longer configured') });
    });

    it("fails a lead whose source changed type: another type's adapter cannot read its event", async () => {
      const mapper = fakeMapper();
      const { processor } = processorWith(delivered, undefined, undefined, { mapper, sources: [{ ...HUBSPOT, type: 'typeform', credentials: { type: 'typeform', secret: 'x' } }] });
      await expect(processor.process(nativeJob().job)).rejects.toEqual(
        new UnrecoverableError('Source "hubspot-main" is now of type typeform, but this lead\'s event was received as hubspot: restore its type, then retry the lead'),
      );
      expect(mapper.map).not.toHaveBeenCalled();
    });

    it('fails at once on an event sealed with a retired key, and on a malformed native payload', async () => {
      const mapper = fakeMapper();
      const { processor, client } = processorWith(delivered, undefined, undefined, { mapper });
      const retired = nativeJob(0, { sealed_event: sealEvent(new Keyring({ id: 'retired', key: randomBytes(32) }), EVENT) });
      await expect(processor.process(retired.job)).rejects.toEqual(
        new UnrecoverableError('The lead\'s sealed event cannot be opened (Sealed with key "retired", which is not configured): check DATA_ENCRYPTION_KEY and DATA_ENCRYPTION_OLD_KEYS'),
      );
      const malformed = nativeJob(0, { event_id: 42 as unknown as string });
      await expect(processor.process(malformed.job)).rejects.toEqual(
        new UnrecoverableError('The job is not a native lead delivery: lead_id, distribution_id, source or native (type, event_id, sealed_event) is missing or malformed'),
      );
      expect(mapper.map).not.toHaveBeenCalled();
      expect(client.pushLead).not.toHaveBeenCalled();
    });

    it('holds a native lead back while the circuit is open, without mapping it (nor fetching its record)', async () => {
      const mapper = fakeMapper();
      const { processor, client } = processorWith(delivered, { ok: false, state: 'open', remainingMs: 5_000 }, undefined, { mapper });
      await expect(processor.process(nativeJob().job)).rejects.toThrow('bullmq:rateLimitExceeded');
      expect(mapper.map).not.toHaveBeenCalled();
      expect(client.pushLead).not.toHaveBeenCalled();
    });

    it("counts WeGroup's failures of a mapped lead toward the breaker as for any lead", async () => {
      const { processor, breaker } = processorWith(async () => {
        throw new WeGroupError('WeGroup answered 503', 'transient', 503);
      });
      const { job, updateData } = nativeJob();
      await expect(processor.process(job)).rejects.toBeInstanceOf(RetryableDeliveryError);
      expect(updateData).toHaveBeenCalledTimes(1);
      expect(breaker.recordFailure).toHaveBeenCalledWith(false);
    });
  });

  describe('per-source outcome counters', () => {
    it('counts a delivered lead and a failed one for their source, not a retried one', async () => {
      const ok = processorWith(async () => ({ statusCode: 201, leadId: null, body: null }));
      await ok.processor.process(fakeJob().job);
      expect(ok.counted()).toEqual(['crm:delivered']);

      const transient = processorWith(async () => {
        throw new WeGroupError('WeGroup answered 503', 'transient', 503);
      });
      await expect(transient.processor.process(fakeJob(0).job)).rejects.toBeInstanceOf(RetryableDeliveryError);
      expect(transient.counted()).toEqual([]);
      await expect(transient.processor.process(fakeJob(2).job)).rejects.toBeInstanceOf(UnrecoverableError);
      expect(transient.counted()).toEqual(['crm:failed']);
    });

    it('delivers even when the counter cannot be written (WeGroup has the lead: failing would send it again)', async () => {
      const { processor, queue } = processorWith(async () => ({ statusCode: 201, leadId: 'wg-1', body: null }));
      Object.assign(queue, { state: { get: async () => fakeRedis(jest.fn(), () => Promise.reject(new Error('Connection is closed.'))) } });
      await expect(processor.process(fakeJob().job)).resolves.toEqual({ status_code: 201, lead_id: 'wg-1' });
      expect(warn).toHaveBeenCalledWith(expect.anything(), 'Lead lead-1: the delivered outcome was not counted or indexed (source crm)');
    });
  });

  describe("the failure reason ops read (the job's failedReason)", () => {
    it("says what WeGroup said, in words and without values, and leaves no stack on the job", async () => {
      const body = JSON.stringify({ detail: [{ loc: ['body', 'prospect', 'first_name'], msg: 'field required', type: 'value_error.missing', input: { last_name: 'Bar' } }] });
      const { processor } = processorWith(async () => {
        throw new WeGroupError(`WeGroup answered 422: ${body}`, 'permanent', 422, body, null, 'WeGroup answered 422');
      });
      const { job, log } = fakeJob();
      const thrown = await rejection(processor.process(job));
      expect(thrown).toEqual(new UnrecoverableError('WeGroup answered 422: prospect.first_name: field required'));
      expect(thrown.stack).toBeUndefined();
      // The whole answer stays in the sealed attempt log.
      expect(loggedAttempt(log)).toMatchObject({ outcome: 'permanent', body, error: `WeGroup answered 422: ${body}` });
    });
  });

  describe('Retry-After is honoured up to a cap, and both values are recorded', () => {
    const HOSTILE_MS = 99_999_999 * 1000;

    it("caps a 503's pause of every delivery, and the lead's own wait, at the breaker's cool-down", async () => {
      const { processor, queue } = processorWith(async () => {
        throw new WeGroupError('WeGroup answered 503', 'transient', 503, null, HOSTILE_MS);
      });
      const { job, log } = fakeJob();
      const thrown = (await rejection(processor.process(job))) as RetryableDeliveryError;
      const cooldownMs = config.delivery.breaker.cooldownMs;
      expect(queue.rateLimit).toHaveBeenCalledWith(cooldownMs);
      expect(thrown.delayMs).toBe(cooldownMs);
      expect(loggedAttempt(log)).toMatchObject({ outcome: 'transient', retry_after_ms: HOSTILE_MS, pause_ms: cooldownMs, next_delay_ms: cooldownMs });
    });

    it("caps a 429's pause at MAX_RATE_LIMIT_PAUSE_MS and holds the lead without spending the attempt", async () => {
      const { processor, queue } = processorWith(async () => {
        throw new WeGroupError('WeGroup rate-limited the request (429)', 'transient', 429, null, HOSTILE_MS);
      });
      const { job, log } = fakeJob();
      Object.assign(job, { updateData: jest.fn().mockResolvedValue(undefined) });
      await expect(processor.process(job)).rejects.toThrow('bullmq:rateLimitExceeded');
      expect(queue.rateLimit).toHaveBeenCalledWith(MAX_RATE_LIMIT_PAUSE_MS);
      expect(loggedAttempt(log)).toMatchObject({ outcome: 'rate_limited', retry_after_ms: HOSTILE_MS, pause_ms: MAX_RATE_LIMIT_PAUSE_MS, next_delay_ms: MAX_RATE_LIMIT_PAUSE_MS });
    });
  });

  describe('request id and metrics', () => {
    const metricsFor = () =>
      new WorkerMetrics({ getJobCounts: async () => ({}) } as unknown as LeadsQueue, { state: async () => ({ state: 'closed', consecutive_failures: 0 }) } as unknown as CircuitBreaker);
    const sample = async (metric: { get(): Promise<{ values: Array<{ labels: Record<string, unknown>; value: number; metricName?: string }> }> }, labels: Record<string, unknown>, name?: string) =>
      (await metric.get()).values.find(
        (value) => (name === undefined || value.metricName === name) && Object.entries(labels).every(([key, label]) => value.labels[key] === label),
      )?.value ?? 0;

    it("sends the lead's request id to WeGroup and counts the delivery with its status and intake-to-delivered time", async () => {
      const metrics = metricsFor();
      const { processor, client } = processorWith(
        async (_url, _distribution, _body, _credentials, options) => {
          options?.onResponse?.(201, 12);
          return { statusCode: 201, leadId: 'wg-9', body: null };
        },
        undefined,
        metrics,
      );
      const { job } = fakeJob();
      job.data.request_id = 'req-abc';
      await processor.process(job);
      expect(client.pushLead).toHaveBeenCalledWith('http://wegroup.test', 'dist-1', LEAD, expect.anything(), expect.objectContaining({ requestId: 'req-abc' }));
      expect(await sample(metrics.deliveries, { outcome: 'delivered', status_code: '201' })).toBe(1);
      expect(await sample(metrics.wegroupRequestSeconds, { status_code: '201' }, 'wegroup_leads_wegroup_request_duration_seconds_count')).toBe(1);
      expect(await sample(metrics.intakeToDeliveredSeconds, {}, 'wegroup_leads_intake_to_delivered_seconds_count')).toBe(1);
    });

    it('counts failures by outcome and status, and leads held back while the circuit is open', async () => {
      const metrics = metricsFor();
      const failing = processorWith(
        async () => {
          throw new WeGroupError('WeGroup answered 401', 'permanent', 401);
        },
        undefined,
        metrics,
      );
      await expect(failing.processor.process(fakeJob().job)).rejects.toBeInstanceOf(UnrecoverableError);
      const held = processorWith(async () => ({ statusCode: 201, leadId: null, body: null }), { ok: false, state: 'open', remainingMs: 1_000 }, metrics);
      await expect(held.processor.process(fakeJob().job)).rejects.toThrow('bullmq:rateLimitExceeded');
      expect(await sample(metrics.deliveries, { outcome: 'permanent', status_code: '401' })).toBe(1);
      expect(await sample(metrics.deliveries, { outcome: 'held', status_code: 'none' })).toBe(1);
    });
  });
});

describe('LeadDeliveryProcessor: events back to the source', () => {
  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  const emitter = (emit: LeadEventEmitter['emit'] = async () => undefined, takes: LeadEventEmitter['takes'] = () => true) =>
    ({ emit: jest.fn(emit), takes: jest.fn(takes) }) as unknown as LeadEventEmitter & { emit: jest.Mock; takes: jest.Mock };
  const external_ref = LEAD.prospect.external_ref;

  it("emits lead.delivered with WeGroup's status and lead id and the source's own reference, nothing of the prospect", async () => {
    const events = emitter();
    const { processor } = processorWith(async () => ({ statusCode: 201, leadId: 'wg-9', body: '{}' }), undefined, undefined, {}, events);
    await processor.process(fakeJob().job);
    expect(events.emit).toHaveBeenCalledWith({ type: 'lead.delivered', lead_id: 'lead-1', source: 'crm', key: '', data: { external_ref, wegroup: { status_code: 201, lead_id: 'wg-9' } } });
  });

  it("asks first whether the source's endpoint takes the type, and builds no event when it does not", async () => {
    const events = emitter(undefined, (_source, type) => type !== 'lead.delivered');
    const { processor } = processorWith(async () => ({ statusCode: 201, leadId: 'wg-9', body: '{}' }), undefined, undefined, {}, events);
    await processor.process(fakeJob().job);
    expect(events.takes).toHaveBeenCalledWith('crm', 'lead.delivered');
    expect(events.emit).not.toHaveBeenCalled();
  });

  it('an event that cannot be stored does not fail a lead WeGroup accepted', async () => {
    const events = emitter(async () => {
      throw new Error('Connection is closed.');
    });
    const { processor } = processorWith(async () => ({ statusCode: 201, leadId: 'wg-9', body: '{}' }), undefined, undefined, {}, events);
    await expect(processor.process(fakeJob().job)).resolves.toEqual({ status_code: 201, lead_id: 'wg-9' });
  });

  it('emits lead.failed (the reason in clear, the attempts) when a lead ends failed, and lead.retrying with the next attempt time before a retry', async () => {
    const events = emitter();
    const { processor } = processorWith(async () => {
      throw new WeGroupError('WeGroup answered 400: "Foo" is not valid', 'permanent', 400, '{"detail":"\\"Foo\\" is not valid"}', null, 'WeGroup answered 400');
    }, undefined, undefined, {}, events);
    await expect(processor.process(fakeJob().job)).rejects.toThrow();
    expect(events.emit).toHaveBeenCalledWith(expect.objectContaining({ type: 'lead.failed', key: expect.stringMatching(/^1:\d+$/), data: { external_ref, reason: expect.any(String), attempts: 1, retryable: true } }));
    expect(JSON.stringify(events.emit.mock.calls)).not.toContain('Foo');

    const retrying = emitter();
    const { processor: again } = processorWith(async () => {
      throw new WeGroupError('WeGroup answered 503', 'transient', 503);
    }, undefined, undefined, {}, retrying);
    await expect(again.process(fakeJob().job)).rejects.toBeInstanceOf(RetryableDeliveryError);
    expect(retrying.emit).toHaveBeenCalledWith(
      expect.objectContaining({ type: 'lead.retrying', data: { external_ref, reason: 'WeGroup answered 503', attempt: 1, next_attempt_at: expect.any(String) } }),
    );
  });
});
