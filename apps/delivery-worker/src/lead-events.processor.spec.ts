import { Logger } from '@nestjs/common';
import { DelayedError, UnrecoverableError } from 'bullmq';
import { Admission, CircuitBreaker, LeadEventJob } from '@app/queue';
import { SourceRegistry } from '@app/sources';
import { EventEndpoints, EventSendOutcome, LeadEventSender, readEventsConfig } from '@app/events';
import { LeadEventsProcessor, RetryableEventError } from './lead-events.processor';
import { readWorkerAppConfig } from './worker.config';

const SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const ENV = { DELIVERY_RETRY_SCHEDULE: '5,300', DATA_ENCRYPTION_KEY: `test:${Buffer.alloc(32, 3).toString('base64')}` };
const config = readWorkerAppConfig(ENV);
const events = readEventsConfig({ SOURCE_EVENTS: 'crm=https://crm.example.com/e', SOURCE_EVENT_SECRETS: `crm=${SECRET}` });

function setup(outcome: EventSendOutcome, admission: Admission = { ok: true, probe: false }) {
  const sender = { send: jest.fn().mockResolvedValue(outcome) } as unknown as LeadEventSender & { send: jest.Mock };
  const processor = new LeadEventsProcessor(config.redis, config.delivery, events, new EventEndpoints(new SourceRegistry([]), events, { everySource: false }), sender, config.dataKeyring);
  const breaker = { admit: jest.fn().mockResolvedValue(admission), recordSuccess: jest.fn(), recordFailure: jest.fn().mockResolvedValue(null) };
  jest.spyOn(processor as unknown as { breakerFor: () => CircuitBreaker }, 'breakerFor').mockReturnValue(breaker as unknown as CircuitBreaker);
  const log = jest.fn().mockResolvedValue(1);
  const moveToDelayed = jest.fn().mockResolvedValue(undefined);
  const job = (source = 'crm', type = 'lead.delivered') =>
    ({
      id: 'evt_1',
      attemptsMade: 0,
      opts: { attempts: 3 },
      data: { event_id: 'evt_1', type, lead_id: 'lead-1', source, created_at: '2026-01-01T00:00:00.000Z', body: '{}' },
      log,
      moveToDelayed,
    }) as unknown as LeadEventJob;
  const logged = () => log.mock.calls.map(([line]) => JSON.parse(line as string));
  return { processor, sender, breaker, job, logged, moveToDelayed };
}

const rejection = (promise: Promise<unknown>) => promise.then(() => new Error('resolved'), (error: Error) => error);

describe('LeadEventsProcessor', () => {
  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('a 2xx: completed with the status, the attempt logged, the breaker told', async () => {
    const { processor, job, logged, breaker } = setup({ type: 'answered', statusCode: 204, retryAfterMs: null, body: null });
    await expect(processor.process(job())).resolves.toEqual({ status_code: 204 });
    expect(logged()).toEqual([expect.objectContaining({ kind: 'attempt', attempt: 1, outcome: 'delivered', status_code: 204, error: null, next_delay_ms: null })]);
    expect(breaker.recordSuccess).toHaveBeenCalled();
  });

  it('a 503: retried after the delay chosen (the job carries it), counted toward the endpoint breaker', async () => {
    const { processor, job, logged, breaker } = setup({ type: 'answered', statusCode: 503, retryAfterMs: 30_000, body: 'busy' });
    const error = (await rejection(processor.process(job()))) as RetryableEventError;
    expect(error).toBeInstanceOf(RetryableEventError);
    expect(error.delayMs).toBe(30_000);
    expect(logged()[0]).toMatchObject({ outcome: 'transient', status_code: 503, error: 'Events endpoint answered 503: busy', next_delay_ms: 30_000 });
    expect(breaker.recordFailure).toHaveBeenCalledWith(false);
  });

  it('a 4xx: failed at once, the reason on the job', async () => {
    const { processor, job } = setup({ type: 'answered', statusCode: 404, retryAfterMs: null, body: null });
    const error = await rejection(processor.process(job()));
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toBe('Events endpoint answered 404');
  });

  it('the endpoint breaker open: the event is moved to delayed until it may probe, nothing sent, no attempt spent', async () => {
    const { processor, job, sender, moveToDelayed, logged } = setup({ type: 'answered', statusCode: 200, retryAfterMs: null, body: null }, { ok: false, state: 'open', remainingMs: 5_000 });
    const before = Date.now();
    await expect(processor.process(job(), 'token')).rejects.toBeInstanceOf(DelayedError);
    expect(sender.send).not.toHaveBeenCalled();
    expect(moveToDelayed).toHaveBeenCalledWith(expect.any(Number), 'token');
    expect(moveToDelayed.mock.calls[0][0]).toBeGreaterThanOrEqual(before + 5_000);
    expect(logged()).toEqual([expect.objectContaining({ kind: 'held', until: expect.any(String) })]);
  });

  it('a source with no endpoint now, or no longer taking the type: failed, never sent', async () => {
    const { processor, job, sender } = setup({ type: 'answered', statusCode: 200, retryAfterMs: null, body: null });
    expect((await rejection(processor.process(job('gone')))).message).toBe('Source "gone" has no events endpoint configured now');
    expect((await rejection(processor.process(job('crm', 'lead.retrying')))).message).toBe('Source "crm" no longer takes lead.retrying events');
    expect(sender.send).not.toHaveBeenCalled();
  });
});
