import type { Queue } from 'bullmq';
import type { IntakeConfig } from '../intake.config';
import { IntakeMetrics, rejectionReason } from './intake.metrics';

function metrics() {
  const config = { apiKeys: new Map([['key-a', 'crm-a'], ['key-b', 'crm-b']]) } as IntakeConfig;
  const queue = { getJobCounts: async () => ({ waiting: 1, delayed: 0, active: 0, failed: 2 }) } as unknown as Queue;
  const breaker = { state: async () => ({ state: 'closed' as const, consecutive_failures: 0, opened_at: null, open_until: null }) };
  return new IntakeMetrics(queue, breaker, config);
}

describe('IntakeMetrics', () => {
  it('names the reason of each refusal from its status', () => {
    expect([400, 401, 403, 409, 413, 415, 422, 429, 503, 500, 418].map(rejectionReason)).toEqual([
      'validation',
      'auth',
      'forbidden',
      'conflict',
      'too_large',
      'unsupported_media',
      'no_route',
      'rate_limited',
      'unavailable',
      'error',
      'other',
    ]);
  });

  it('counts accepted leads and replays by source, refusals by reason and source', async () => {
    const intake = metrics();
    intake.observeLeadPost(202, 'crm-a');
    intake.observeLeadPost(202, 'crm-a');
    intake.observeLeadPost(200, 'crm-a');
    intake.observeLeadPost(401, undefined);
    intake.observeLeadPost(400, 'crm-b');
    const text = await intake.registry.metrics();
    expect(text).toContain('wegroup_leads_intake_accepted_total{source="crm-a",replayed="false"} 2');
    expect(text).toContain('wegroup_leads_intake_accepted_total{source="crm-a",replayed="true"} 1');
    // Known sources are there from the start.
    expect(text).toContain('wegroup_leads_intake_accepted_total{source="crm-b",replayed="false"} 0');
    expect(text).toContain('wegroup_leads_intake_rejected_total{reason="auth",source="unknown"} 1');
    expect(text).toContain('wegroup_leads_intake_rejected_total{reason="validation",source="crm-b"} 1');
    expect(text).toContain('wegroup_leads_queue_jobs{state="failed"} 2');
    expect(text).toContain('wegroup_leads_circuit_breaker_state 0');
  });
});
