import { DeliverLeadJobData } from './lead-job';
import { leadStatusView } from './lead-status';
import { LeadRecord } from './lead.repository';

const data: DeliverLeadJobData = {
  lead_id: 'lead-1',
  source: 'hubspot-main',
  distribution_id: 'dist-1',
  received_at: '2026-01-01T00:00:00.000Z',
  sealed_lead: 'k1:sealed-mapped-lead',
  body_hash: 'hash',
};
const record = (overrides: Partial<DeliverLeadJobData> = {}): LeadRecord => ({
  id: 'lead-1',
  state: 'failed',
  data: { ...data, ...overrides },
  attemptsMade: 1,
  storedAt: Date.parse(data.received_at),
  processedAt: null,
  finishedAt: null,
  failedReason: 'Mapping of source "hubspot-main" gave no prospect.first_name',
  result: null,
  log: [],
  callbacks: [],
});

describe('leadStatusView (GET /v1/leads/{id})', () => {
  it("shows which event a native lead came from, never the event itself", () => {
    const view = leadStatusView(record({ native: { type: 'hubspot', event_id: 'evt-9', sealed_event: 'k1:sealed-event-ada-lovelace' } }));
    expect(view.native).toEqual({ type: 'hubspot', event_id: 'evt-9' });
    expect(JSON.stringify(view)).not.toContain('sealed');
    expect(view.last_error).toBe('Mapping of source "hubspot-main" gave no prospect.first_name');
  });

  it('has no native field for a lead posted in WeGroup shape', () => {
    expect(leadStatusView(record())).not.toHaveProperty('native');
  });

  it("shows WeGroup's callbacks oldest first: a JSON body parsed, any other as its text, a broken JSON one as received", () => {
    const view = leadStatusView({
      ...record(),
      callbacks: [
        { received_at: '2026-01-01T00:01:00.000Z', content_type: 'application/json; charset=utf-8', body: '{"status":"created"}' },
        { received_at: '2026-01-01T00:02:00.000Z', content_type: 'application/x-www-form-urlencoded', body: 'status=offer_sent' },
        { received_at: '2026-01-01T00:03:00.000Z', content_type: 'application/json', body: '{"status":' },
        { received_at: '2026-01-01T00:04:00.000Z', content_type: null, body: '' },
      ],
    });
    expect(view.callbacks_received).toEqual([
      { received_at: '2026-01-01T00:01:00.000Z', content_type: 'application/json; charset=utf-8', body: { status: 'created' } },
      { received_at: '2026-01-01T00:02:00.000Z', content_type: 'application/x-www-form-urlencoded', body: 'status=offer_sent' },
      { received_at: '2026-01-01T00:03:00.000Z', content_type: 'application/json', body: '{"status":' },
      { received_at: '2026-01-01T00:04:00.000Z', content_type: null, body: '' },
    ]);
    expect(leadStatusView(record()).callbacks_received).toEqual([]);
  });
});
