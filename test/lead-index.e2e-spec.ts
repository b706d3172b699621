import { LeadIndex, LeadIndexRow, LeadStats } from '@app/leads';
import { hashOpsPassword } from '../apps/intake-api/src/ops/ops-password';
import { LeadOpsService } from '../apps/intake-api/src/ops/lead-ops.service';
import { OpsAudit, OpsAuditEntry } from '../apps/intake-api/src/ops/ops-audit';
import { distributionId, lead, SandboxControl, Stack, StartedSandbox, startStackWithSandbox, stopStackWithSandbox } from './support/stack';
import { waitFor } from './support/wait';

const OPERATOR = { name: 'grace', password: 'grace-test-password' };

/**
 * The index the ops console reads follows a lead through the real pipeline (intake, queue,
 * worker, the WeGroup sandbox over HTTP): accepted → queued, delivered with WeGroup's lead
 * id, a permanent failure with its reason grouped, an ops retry (and the audit entry naming
 * the operator), an erasure. Read through the intake's own LeadIndex, LeadStats and
 * OpsAudit, as the console's pages will.
 */
describe('lead index, counters and audit through the pipeline', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;
  let index: LeadIndex;
  let audit: OpsAudit;
  const auth = `Basic ${Buffer.from(`${OPERATOR.name}:${OPERATOR.password}`).toString('base64')}`;

  beforeAll(async () => {
    const OPS_USERS = `${OPERATOR.name}:${await hashOpsPassword(OPERATOR.password)}:operator`;
    ({ sandbox, control, stack } = await startStackWithSandbox('lead-index', { OPS_USERS }));
    index = stack.intake.get(LeadIndex);
    audit = stack.intake.get(OpsAudit);
  });
  afterAll(() => stopStackWithSandbox({ sandbox, stack }));

  async function post(body: Record<string, any>): Promise<string> {
    const response = await stack.postLead(body);
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  }

  const rowOf = (id: string) => index.row(id);
  const waitForRow = (id: string, status: string): Promise<LeadIndexRow> =>
    waitFor(`lead ${id} to be ${status} in the index`, async () => {
      const row = await rowOf(id);
      return row?.status === status ? row : undefined;
    });
  const ops = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}${path}`, { method, headers: { authorization: auth, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

  it('indexes an accepted lead as queued, then delivered with its WeGroup lead id; counts it per 5 minutes', async () => {
    await stack.stopWorker();
    const body = lead({ distribution_id: distributionId() });
    const ref = body.prospect.external_ref.external_ref as string;
    const id = await post(body);
    expect(await rowOf(id)).toMatchObject({ id, status: 'queued', source: 'test-crm', external_ref: ref, attempts: 0, erased: false });
    expect((await index.search({ externalRef: ref, limit: 10 })).rows.map((row) => row.id)).toEqual([id]);

    await stack.startWorker();
    const delivered = await stack.waitForStatus(id, ['delivered', 'failed']);
    expect(delivered.status).toBe('delivered');
    const row = await waitForRow(id, 'delivered');
    expect(row).toMatchObject({ attempts: 1, last_error: null, wegroup_lead_id: delivered.wegroup.lead_id });
    expect((await index.search({ wegroupLeadId: delivered.wegroup.lead_id, limit: 10 })).rows.map((r) => r.id)).toEqual([id]);
    expect((await index.search({ source: 'test-crm', status: 'delivered', limit: 100 })).rows.map((r) => r.id)).toContain(id);

    const hour = await stack.intake.get(LeadStats).window('1h');
    expect(hour.per_source['test-crm'].accepted).toBeGreaterThanOrEqual(1);
    expect(hour.per_source['test-crm'].delivered).toBeGreaterThanOrEqual(1);
    expect(hour.series.latency_p50_ms.some((value) => value !== null)).toBe(true);
  });

  it('a permanent failure is failed with its reason in the failure groups; an ops retry re-queues it and the audit names the operator', async () => {
    const did = distributionId();
    const reason = `prospect.birth_date is not a date (${did})`;
    // Every attempt of this distribution refused, until the retry below.
    await control.fault({ status: 400, count: 1, distribution_id: did, body: { detail: reason } });
    const id = await post(lead({ distribution_id: did }));
    await stack.waitForStatus(id, ['failed']);
    const failed = await waitForRow(id, 'failed');
    // The failure summary ops viewers read too (the job's reason): WeGroup's own words stay in the sealed log.
    expect(failed.last_error).toMatch(/WeGroup answered 400/);
    expect(failed.last_error).not.toContain(reason);
    const group = (await index.failureGroups(100)).find((g) => g.reason === failed.last_error);
    expect(group).toMatchObject({ count: 1, newest_failed_at: failed.updated_at });

    // The worker is stopped so the retried lead stays queued long enough to be seen so.
    await stack.stopWorker();
    expect((await ops('POST', `/v1/leads/${id}/retry`)).status).toBe(202);
    expect(await rowOf(id)).toMatchObject({ status: 'queued', attempts: 0 });
    expect((await index.failureGroups(100)).find((g) => g.reason === failed.last_error)).toBeUndefined();
    const entries = (await audit.list({ limit: 10, lead_id: id })).entries;
    expect(entries).toEqual([expect.objectContaining({ user: OPERATOR.name, action: 'lead_retried', lead_id: id })]);
    // The lead's own log names who replayed it.
    const replayed = (await stack.lead(id)).attempts_log.find((entry: Record<string, unknown>) => entry.kind === 'replayed');
    expect(replayed.by).toBe(OPERATOR.name);

    await stack.startWorker();
    await stack.waitForStatus(id, ['delivered']);
    await waitForRow(id, 'delivered');
  });

  it("a failure group's retry re-queues exactly its leads, audited with the counts", async () => {
    const did = distributionId();
    await control.fault({ status: 409, count: 2, distribution_id: did, body: { detail: 'duplicate prospect' } });
    const ids = [await post(lead({ distribution_id: did })), await post(lead({ distribution_id: did }))];
    for (const id of ids) await stack.waitForStatus(id, ['failed']);
    const rows = await Promise.all(ids.map((id) => waitForRow(id, 'failed')));
    const group = (await index.failureGroups(100)).find((g) => g.reason === rows[0].last_error);
    expect(group?.count).toBe(2);

    const result = await stack.intake.get(LeadOpsService).retryFailureGroup(group!.reason, 100, OPERATOR.name);
    expect(result).toEqual({ matched: 2, retried: 2 });
    for (const id of ids) await stack.waitForStatus(id, ['delivered']);
    const [entry] = (await audit.list({ limit: 1 })).entries;
    expect(entry).toMatchObject({ user: OPERATOR.name, action: 'leads_bulk_retried', detail: { matched: 2, retried: 2, failure_group: true } });
  });

  it('erasure: no longer found by its external ref or WeGroup lead id, the row marked erased; audited without personal data', async () => {
    const body = lead({ distribution_id: distributionId() }, { first_name: 'Erasmus', email: 'erasmus@example.com' });
    const ref = body.prospect.external_ref.external_ref as string;
    const id = await post(body);
    const delivered = await stack.waitForStatus(id, ['delivered']);
    await waitForRow(id, 'delivered');

    const erased = await ops('DELETE', `/v1/leads/${id}`);
    expect(erased.status).toBe(200);
    expect(await rowOf(id)).toMatchObject({ status: 'delivered', erased: true, external_ref: null, wegroup_lead_id: null });
    expect((await index.search({ externalRef: ref, limit: 10 })).rows).toEqual([]);
    expect((await index.search({ wegroupLeadId: delivered.wegroup.lead_id, limit: 10 })).rows).toEqual([]);

    const entries: OpsAuditEntry[] = (await audit.list({ limit: 100 })).entries;
    expect(entries.find((entry) => entry.lead_id === id)).toMatchObject({ user: OPERATOR.name, action: 'lead_erased' });
    const text = JSON.stringify(entries);
    for (const personal of ['Erasmus', 'erasmus@example.com', ref]) expect(text).not.toContain(personal);
  });

  it('an erased failed lead is no retry candidate: 409 naming why, and out of its failure group', async () => {
    const did = distributionId();
    await control.fault({ status: 422, count: 1, distribution_id: did, body: { detail: 'erase me' } });
    const id = await post(lead({ distribution_id: did }));
    await stack.waitForStatus(id, ['failed']);
    const failed = await waitForRow(id, 'failed');
    expect((await ops('DELETE', `/v1/leads/${id}`)).status).toBe(200);

    const retry = await ops('POST', `/v1/leads/${id}/retry`);
    expect(retry.status).toBe(409);
    expect(((await retry.json()) as { detail: string }).detail).toBe(`Lead ${id} cannot be retried: its personal data was erased, so there is nothing left to deliver.`);
    expect(await index.failedWithReason(failed.last_error!, 100)).not.toContain(id);
    expect((await stack.lead(id)).status).toBe('failed');
  });
});
