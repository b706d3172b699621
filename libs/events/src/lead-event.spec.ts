import { createHash } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { DEFAULT_SOURCE_EVENT_TYPES, SOURCE_EVENT_TYPES } from '@app/sources';
import { Keyring } from '@app/config';
import { CALLBACK_BODY_REMOVED, externalRefOf, leadEventBody, leadEventId, openEventBody, sealEventBody, withoutCallbackBody } from './lead-event';
import { DEFAULT_EVENT_TYPES, LEAD_EVENT_TYPES, LeadEventInput } from './lead-event.types';
import { signedHeaders } from './lead-event.sender';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const AT = new Date('2025-03-01T10:00:00.000Z');

describe('event ids', () => {
  it('are evt_ and 32 hex digits of sha256(lead, type, key): the same occurrence, the same id', () => {
    const id = leadEventId('lead-1', 'lead.delivered', '');
    expect(id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(leadEventId('lead-1', 'lead.delivered', '')).toBe(id);
    expect(id).toBe('evt_' + createHash('sha256').update('lead-1\nlead.delivered\n').digest('hex').slice(0, 32));
  });

  it('differ by lead, type and key', () => {
    const ids = new Set([
      leadEventId('lead-1', 'lead.failed', '1:100'),
      leadEventId('lead-1', 'lead.failed', '1:200'),
      leadEventId('lead-2', 'lead.failed', '1:100'),
      leadEventId('lead-1', 'lead.retrying', '1:100'),
    ]);
    expect(ids.size).toBe(4);
  });
});

describe('event bodies: {type, timestamp, data: {lead_id, source, …}}', () => {
  const input = (type: LeadEventInput['type'], data: Record<string, unknown>): LeadEventInput => ({ type, lead_id: 'lead-1', source: 'crm', key: '', data });
  const ref = { external_ref: 'crm-42' };

  it.each<[LeadEventInput['type'], Record<string, unknown>]>([
    ['lead.delivered', { external_ref: ref, wegroup: { status_code: 201, lead_id: 'wg-1' } }],
    ['lead.failed', { external_ref: ref, reason: 'WeGroup answered 422: invalid prospect', attempts: 1, retryable: true }],
    ['lead.retrying', { external_ref: ref, reason: 'WeGroup answered 503', attempt: 1, next_attempt_at: '2025-03-01T10:00:05.000Z' }],
    ['lead.erased', { external_ref: null }],
    ['lead.updated', { external_ref: ref, callback: { received_at: AT.toISOString(), content_type: 'application/json', body: { status: 'created' } } }],
  ])('%s', (type, data) => {
    expect(JSON.parse(leadEventBody(input(type, data), AT))).toEqual({ type, timestamp: '2025-03-01T10:00:00.000Z', data: { lead_id: 'lead-1', source: 'crm', ...data } });
  });

  it('data cannot overwrite the lead or the source', () => {
    expect(JSON.parse(leadEventBody(input('lead.erased', { lead_id: 'other', source: 'other' }), AT)).data).toEqual({ lead_id: 'lead-1', source: 'crm' });
  });

  it("takes only the source's own reference from a lead, never a prospect field", () => {
    expect(externalRefOf({ prospect: { first_name: 'Foo', external_ref: { external_ref: 'crm-42', external_ref_company: 'acme' } } })).toEqual({
      external_ref: 'crm-42',
      external_ref_company: 'acme',
    });
    expect(externalRefOf({ prospect: { first_name: 'Foo' } })).toBeNull();
    expect(externalRefOf(null)).toBeNull();
  });
});

describe('event bodies at rest, and erasure', () => {
  const keyring = new Keyring({ id: 'k1', key: Buffer.alloc(32, 9) });
  const updated = leadEventBody(
    { type: 'lead.updated', lead_id: 'l1', source: 'crm', key: '1', data: { external_ref: null, callback: { received_at: 't', content_type: 'application/json', body: { email: 'grace@example.com' } } } },
    new Date('2026-01-01T00:00:00.000Z'),
  );

  it('are sealed, and open to exactly the body that is signed; an unsealed one (stored before) reads as it is', () => {
    const stored = sealEventBody(keyring, updated);
    expect(stored).not.toContain('grace');
    expect(openEventBody(keyring, stored)).toBe(updated);
    expect(openEventBody(keyring, updated)).toBe(updated);
  });

  it("lose WeGroup's callback body on erasure, keeping ids and times; nothing to remove is null", () => {
    const scrubbed = withoutCallbackBody(updated)!;
    expect(scrubbed).not.toContain('grace');
    expect(JSON.parse(scrubbed)).toEqual({
      type: 'lead.updated',
      timestamp: '2026-01-01T00:00:00.000Z',
      data: { lead_id: 'l1', source: 'crm', external_ref: null, callback: { received_at: 't', content_type: 'application/json', body: CALLBACK_BODY_REMOVED } },
    });
    expect(withoutCallbackBody(scrubbed)).toBeNull();
    expect(withoutCallbackBody(leadEventBody({ type: 'lead.delivered', lead_id: 'l1', source: 'crm', key: '', data: {} }, new Date()))).toBeNull();
  });
});

describe('the event types', () => {
  it('are the same lists as the sources file checks', () => {
    expect([...SOURCE_EVENT_TYPES]).toEqual([...LEAD_EVENT_TYPES]);
    expect([...DEFAULT_SOURCE_EVENT_TYPES]).toEqual([...DEFAULT_EVENT_TYPES]);
  });
});

describe('signed headers', () => {
  it('verify with the standardwebhooks library, with the first secret', () => {
    const body = leadEventBody({ type: 'lead.delivered', lead_id: 'lead-1', source: 'crm', key: '', data: {} }, AT);
    const other = `whsec_${Buffer.alloc(32, 8).toString('base64')}`;
    const headers = signedHeaders({ url: 'https://crm.example.com/e', secrets: [SECRET, other], types: [] }, { event_id: 'evt_1', body });
    expect(headers).toMatchObject({ 'webhook-id': 'evt_1', 'content-type': 'application/json' });
    expect(new Webhook(SECRET).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(other).verify(body, headers)).toThrow();
  });
});
