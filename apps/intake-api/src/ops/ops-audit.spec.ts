import { InvalidCursorError } from '@app/leads';
import { keyPrefix, LEADS_QUEUE, LeadsQueue } from '@app/queue';
import { connectRedis, deleteKeys, uniqueQueuePrefix } from '../../../../test/support/redis-keys';
import { OPS_AUDIT_RETENTION_MS, OpsAudit } from './ops-audit';

describe('OpsAudit (real Redis)', () => {
  const prefix = uniqueQueuePrefix('ops-audit');
  const redis = connectRedis({}, { maxRetriesPerRequest: null });
  const queue = new LeadsQueue(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(prefix), skipMetasUpdate: true });
  const audit = new OpsAudit(queue);
  const stream = queue.toKey('ops-audit');

  afterAll(async () => {
    await queue.close();
    redis.disconnect();
    await deleteKeys(prefix);
  });

  it('lists entries newest first, page by page with a cursor, also many in one millisecond', async () => {
    for (let i = 0; i < 7; i++) await audit.record({ user: 'grace', action: 'lead_retried', lead_id: `lead-${i}` });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await audit.list({ limit: 3, cursor });
      expect(page.entries.length).toBeLessThanOrEqual(3);
      seen.push(...page.entries.map((entry) => entry.lead_id!));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(['lead-6', 'lead-5', 'lead-4', 'lead-3', 'lead-2', 'lead-1', 'lead-0']);
    const [newest] = (await audit.list({ limit: 1 })).entries;
    expect(newest).toEqual({ id: expect.stringMatching(/^\d+-\d+$/), at: expect.any(String), user: 'grace', action: 'lead_retried', lead_id: 'lead-6', detail: {} });
    expect(Math.abs(Date.parse(newest.at) - Date.now())).toBeLessThan(60_000);
  });

  it("lists one lead's entries, newest first, from its own list", async () => {
    await audit.record({ user: 'alan', action: 'personal_data_viewed', lead_id: 'lead-x' });
    await audit.record({ user: 'grace', action: 'sign_in' });
    await audit.record({ user: 'alan', action: 'lead_erased', lead_id: 'lead-x', detail: { outcome: 'removed' } });
    const first = await audit.list({ limit: 1, lead_id: 'lead-x' });
    expect(first.entries.map((entry) => entry.action)).toEqual(['lead_erased']);
    expect(first.entries[0].detail).toEqual({ outcome: 'removed' });
    const second = await audit.list({ limit: 1, lead_id: 'lead-x', cursor: first.next_cursor! });
    expect(second).toEqual({ entries: [expect.objectContaining({ action: 'personal_data_viewed', user: 'alan' })], next_cursor: null });
    expect((await audit.list({ limit: 10, lead_id: 'no-such-lead' })).entries).toEqual([]);
  });

  it('refuses a cursor it did not give', async () => {
    for (const cursor of ['', 'abc', '1-2-3', '99999999999999999-0', '0-0', '00-000']) await expect(audit.list({ limit: 5, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it('keeps a year: each entry trims what is older', async () => {
    const old = Date.now() - OPS_AUDIT_RETENTION_MS - 86_400_000;
    // An entry from more than a year ago (written with its time as the id, as Redis would have then).
    const fresh = new OpsAudit(new LeadsQueue('audit-trim', { connection: redis, prefix: keyPrefix(prefix), skipMetasUpdate: true }));
    const key = `${keyPrefix(prefix)}:audit-trim:ops-audit`;
    await redis.xadd(key, `${old}-0`, 'user', 'ada', 'action', 'sign_in', 'detail', '{}');
    await fresh.record({ user: 'grace', action: 'sign_out' });
    const entries = (await fresh.list({ limit: 10 })).entries;
    expect(entries.map((entry) => entry.user)).toEqual(['grace']);
    expect(await redis.xlen(key)).toBe(1);
  });

  it('stores only the user, the action, the lead id and short facts', async () => {
    await audit.record({ user: 'grace', action: 'mapping_previewed', detail: { source: 'hubspot-main', leads: 3, note: 'x'.repeat(5_000) } });
    const [entry] = (await audit.list({ limit: 1 })).entries;
    expect(entry.detail).toEqual({ source: 'hubspot-main', leads: 3, note: 'x'.repeat(120) });
    const [[, fields]] = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
    expect(fields.filter((_, i) => i % 2 === 0).sort()).toEqual(['action', 'detail', 'user']);
  });
});
