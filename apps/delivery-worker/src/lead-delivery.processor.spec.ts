import { ConfigService } from '@nestjs/config';
import { Job, Queue, UnrecoverableError } from 'bullmq';
import type Redis from 'ioredis';
import { Admission, CircuitBreaker } from '@app/queue';
import { randomBytes } from 'node:crypto';
import { readWorkerAppConfig, WorkerAppConfig } from '@app/config';
import { DeliverLeadJobData, DeliveryResult, openLogLine, sealLead } from '@app/leads';
import { ApiTokenAuthProvider, WeGroupClient, WeGroupError } from '@app/wegroup';
import { LeadDeliveryProcessor, RetryableDeliveryError } from './lead-delivery.processor';
import { WorkerMetrics } from './worker.metrics';

const ENV = {
  WEGROUP_API_URL: 'http://wegroup.test',
  DELIVERY_RETRY_SCHEDULE: '5,300',
  DATA_ENCRYPTION_KEY: `test:${randomBytes(32).toString('base64')}`,
};
const config = readWorkerAppConfig(ENV);
const LEAD = { origin: 'CRM', prospect: { first_name: 'Foo', last_name: 'Bar' } };

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

function processorWith(pushLead: WeGroupClient['pushLead'], admission: Admission = { ok: true, probe: false }, metrics?: WorkerMetrics) {
  const configService = { get: (key: keyof typeof config) => config[key] } as unknown as ConfigService<WorkerAppConfig, true>;
  const client = { pushLead: jest.fn(pushLead) } as unknown as WeGroupClient;
  const queue = { rateLimit: jest.fn().mockResolvedValue(undefined) };
  const breaker = {
    admit: jest.fn().mockResolvedValue(admission),
    recordSuccess: jest.fn().mockResolvedValue(undefined),
    recordFailure: jest.fn().mockResolvedValue(null),
  };
  const processor = new LeadDeliveryProcessor(
    configService,
    client,
    new ApiTokenAuthProvider('tok', ['leads:write']),
    {} as Redis,
    queue as unknown as Queue,
    breaker as unknown as CircuitBreaker,
    metrics,
  );
  return { processor, client, queue, breaker };
}

const loggedAttempt = (log: jest.Mock) => {
  const line = log.mock.calls[0][0] as string;
  expect(line).not.toContain('Foo');
  return openLogLine(config.dataKeyring, line) as unknown as Record<string, unknown>;
};

describe('LeadDeliveryProcessor', () => {
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
    const { processor, client, queue } = processorWith(async () => ({ statusCode: 201, leadId: null, body: null }), { ok: false, waitMs: 5_000 });
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

  it('treats an unexpected error as transient without quoting its message', async () => {
    const { processor } = processorWith(async () => {
      throw new TypeError('secret-ish detail');
    });
    const { job, log } = fakeJob();
    await expect(processor.process(job)).rejects.toThrow('Delivery failed unexpectedly (TypeError)');
    expect(JSON.stringify(loggedAttempt(log))).not.toContain('secret-ish');
  });

  describe('request id and metrics', () => {
    const metricsFor = () =>
      new WorkerMetrics({ getJobCounts: async () => ({}) } as unknown as Queue, { state: async () => ({ state: 'closed', consecutive_failures: 0 }) } as unknown as CircuitBreaker);
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
      const held = processorWith(async () => ({ statusCode: 201, leadId: null, body: null }), { ok: false, waitMs: 1_000 }, metrics);
      await expect(held.processor.process(fakeJob().job)).rejects.toThrow('bullmq:rateLimitExceeded');
      expect(await sample(metrics.deliveries, { outcome: 'permanent', status_code: '401' })).toBe(1);
      expect(await sample(metrics.deliveries, { outcome: 'held', status_code: 'none' })).toBe(1);
    });
  });
});
