import { ConfigService } from '@nestjs/config';
import { Job, UnrecoverableError } from 'bullmq';
import { readWorkerAppConfig, WorkerAppConfig } from '@app/config';
import { DeliverLeadJobData, DeliveryResult } from '@app/leads';
import { ApiTokenAuthProvider, WeGroupClient, WeGroupError } from '@app/wegroup';
import { LeadDeliveryProcessor } from './lead-delivery.processor';

function fakeJob(attemptsMade = 0) {
  const data: DeliverLeadJobData = {
    lead_id: 'lead-1',
    source: 'crm',
    distribution_id: 'dist-1',
    received_at: '2026-01-01T00:00:00.000Z',
    lead: { origin: 'CRM', prospect: { first_name: 'Foo', last_name: 'Bar' } },
  };
  const log = jest.fn().mockResolvedValue(1);
  return { job: { id: 'lead-1', data, attemptsMade, log } as unknown as Job<DeliverLeadJobData, DeliveryResult>, log };
}

function processorWith(pushLead: WeGroupClient['pushLead']) {
  const config = readWorkerAppConfig({ WEGROUP_API_URL: 'http://wegroup.test' });
  const configService = { get: (key: keyof typeof config) => config[key] } as unknown as ConfigService<WorkerAppConfig, true>;
  const client = { pushLead: jest.fn(pushLead) } as unknown as WeGroupClient;
  return { processor: new LeadDeliveryProcessor(configService, client, new ApiTokenAuthProvider('tok', ['leads:write'])), client };
}

const loggedAttempt = (log: jest.Mock) => JSON.parse(log.mock.calls[0][0] as string);

describe('LeadDeliveryProcessor', () => {
  it('pushes the lead body to its distribution and returns what WeGroup answered', async () => {
    const { processor, client } = processorWith(async () => ({ statusCode: 201, leadId: 'wg-9', body: '{"id":"wg-9"}' }));
    const { job, log } = fakeJob();
    await expect(processor.process(job)).resolves.toEqual({ status_code: 201, lead_id: 'wg-9', body: '{"id":"wg-9"}' });
    expect(client.pushLead).toHaveBeenCalledWith('http://wegroup.test', 'dist-1', job.data.lead, expect.objectContaining({ scheme: 'apikey' }));
    expect(loggedAttempt(log)).toMatchObject({ attempt: 1, outcome: 'delivered', status_code: 201, error: null });
  });

  it('rethrows a transient failure so BullMQ retries it, and logs the attempt', async () => {
    const { processor } = processorWith(async () => {
      throw new WeGroupError('WeGroup answered 503', 'transient', 503, 'busy');
    });
    const { job, log } = fakeJob(2);
    const failure = processor.process(job);
    await expect(failure).rejects.toThrow('WeGroup answered 503');
    await expect(failure).rejects.not.toBeInstanceOf(UnrecoverableError);
    expect(loggedAttempt(log)).toMatchObject({ attempt: 3, outcome: 'transient', status_code: 503, body: 'busy' });
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
});
