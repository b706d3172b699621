import { Keyring } from '@app/config';
import { openEventBody } from './lead-event';
import { LeadEventsQueue } from '@app/queue';
import { SourceRegistry } from '@app/sources';
import { EventEndpoints } from './event-endpoints';
import { leadEventId } from './lead-event';
import { QueueLeadEventEmitter } from './lead-event.emitter';
import { readEventsConfig } from './events.config';

const SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;

function emitterWith(env: Record<string, string>) {
  const exec = jest.fn().mockResolvedValue([]);
  const chain: Record<string, jest.Mock> = {};
  for (const command of ['lrem', 'rpush', 'ltrim', 'expire']) chain[command] = jest.fn(() => chain);
  chain.exec = exec;
  const client = { multi: jest.fn(() => chain) };
  const queue = { add: jest.fn().mockResolvedValue({}), toKey: (key: string) => `{p}:lead-events:${key}`, state: { get: async () => client } };
  const endpoints = new EventEndpoints(new SourceRegistry([]), readEventsConfig(env), { everySource: false });
  const retention = { deliveredDays: 7, metadataDays: 90, failedDays: 30, idempotencyTtlSeconds: 86_400 };
  const emitter = new QueueLeadEventEmitter(queue as unknown as LeadEventsQueue, endpoints, retention, { scheduleMs: [1000, 2000] }, KEYRING);
  return { emitter, queue, chain };
}

const KEYRING = new Keyring({ id: 'k1', key: Buffer.alloc(32, 3) });
const ENV = { SOURCE_EVENTS: 'crm=https://crm.example.com/e', SOURCE_EVENT_SECRETS: `crm=${SECRET}` };

describe('QueueLeadEventEmitter', () => {
  it('stores the event as a job (id = event id, the leads\' schedule and retention) and indexes it on its lead; never sends', async () => {
    const { emitter, queue, chain } = emitterWith(ENV);
    const at = new Date('2025-03-01T10:00:00.000Z');
    await emitter.emit({ type: 'lead.delivered', lead_id: 'lead-1', source: 'crm', key: '', data: { external_ref: null }, at });
    const id = leadEventId('lead-1', 'lead.delivered', '');
    expect(queue.add).toHaveBeenCalledWith(
      'send-event',
      {
        event_id: id,
        type: 'lead.delivered',
        lead_id: 'lead-1',
        source: 'crm',
        created_at: at.toISOString(),
        body: expect.any(String),
      },
      expect.objectContaining({ jobId: id, attempts: 3, removeOnComplete: { age: 90 * 86_400 }, removeOnFail: { age: 30 * 86_400 } }),
    );
    // Sealed at rest like lead data; opened, it is exactly the body that is signed and sent.
    const stored = queue.add.mock.calls[0][1].body as string;
    expect(Keyring.isSealed(stored)).toBe(true);
    expect(openEventBody(KEYRING, stored)).toBe(
      JSON.stringify({ type: 'lead.delivered', timestamp: at.toISOString(), data: { lead_id: 'lead-1', source: 'crm', external_ref: null } }),
    );
    expect(chain.rpush).toHaveBeenCalledWith('{p}:lead-events:lead-events:lead-1', id);
    expect(chain.ltrim).toHaveBeenCalledWith('{p}:lead-events:lead-events:lead-1', -100, -1);
    expect(chain.expire).toHaveBeenCalledWith('{p}:lead-events:lead-events:lead-1', 90 * 86_400);
  });

  it('keeps a lead.updated event (WeGroup\'s callback inside) only as long as a delivered lead\'s personal data', async () => {
    const { emitter, queue } = emitterWith(ENV);
    await emitter.emit({ type: 'lead.updated', lead_id: 'lead-1', source: 'crm', key: '1', data: { callback: { body: { status: 'offer_sent' } } } });
    expect(queue.add.mock.calls[0][2]).toEqual(expect.objectContaining({ removeOnComplete: { age: 7 * 86_400 }, removeOnFail: { age: 7 * 86_400 } }));
  });

  it('does nothing for a source without an endpoint, or a type it does not take (lead.retrying is opt-in)', async () => {
    const { emitter, queue } = emitterWith(ENV);
    await emitter.emit({ type: 'lead.delivered', lead_id: 'lead-1', source: 'other', key: '', data: {} });
    await emitter.emit({ type: 'lead.retrying', lead_id: 'lead-1', source: 'crm', key: '1', data: {} });
    expect(queue.add).not.toHaveBeenCalled();
    // What the worker asks before it builds an event.
    expect([emitter.takes('crm', 'lead.delivered'), emitter.takes('crm', 'lead.retrying'), emitter.takes('other', 'lead.delivered')]).toEqual([true, false, false]);
  });

  it('a Redis failure is logged and swallowed: the caller goes on', async () => {
    const { emitter, queue } = emitterWith(ENV);
    queue.add.mockRejectedValue(new Error('Connection is closed.'));
    await expect(emitter.emit({ type: 'lead.failed', lead_id: 'lead-1', source: 'crm', key: '1:1', data: {} })).resolves.toBeUndefined();
  });
});
