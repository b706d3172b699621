import { SourceFetchError } from '@app/leads';
import { JsonataLeadMapper } from './native-lead.mapper';
import { SourceRecordFetcher } from './record.fetcher';
import { previewSource, previewSucceeded, UnknownSourceError } from './source-preview';
import { SourceRegistry } from './source.registry';
import { FACEBOOK_LEADGEN, jsonRequest, TEST_SOURCES, ZOHO_FORM } from './testing/native-fixtures';

describe('previewSource', () => {
  const failing = { fetch: async () => Promise.reject(new SourceFetchError('Facebook Graph answered 404 for leadgen 1', 'permanent', 404)) } as unknown as SourceRecordFetcher;
  const registry = new SourceRegistry([TEST_SOURCES.zoho, TEST_SOURCES.facebook, TEST_SOURCES.hubspot]);
  const mapper = new JsonataLeadMapper(failing);

  it('maps each event, enqueuing nothing', async () => {
    const preview = await previewSource(registry, mapper, 'zoho', jsonRequest(ZOHO_FORM));
    expect(preview).toMatchObject({ source: 'zoho', type: 'zoho', ignored: [], problems: [] });
    expect(preview.leads).toEqual([{ event_id: 'record:3652397000000649013', lead: expect.objectContaining({ origin: 'Zoho CRM' }), problems: [] }]);
    expect(previewSucceeded(preview)).toBe(true);
  });

  it('lists mapping problems, fetch failures and ignored events instead of throwing', async () => {
    const invalid = await previewSource(registry, mapper, 'zoho', jsonRequest({ id: '1' }));
    expect(invalid.leads[0]).toEqual({
      event_id: 'record:1',
      lead: null,
      problems: [
        { field: 'prospect.first_name', message: 'prospect.first_name is required' },
        { field: 'prospect.last_name', message: 'prospect.last_name is required' },
      ],
    });
    expect(previewSucceeded(invalid)).toBe(false);
    const fetched = await previewSource(registry, mapper, 'fb', jsonRequest(FACEBOOK_LEADGEN));
    expect(fetched.leads).toHaveLength(2);
    expect(fetched.leads[0].problems[0]).toEqual({ field: '(fetch)', message: 'Facebook Graph answered 404 for leadgen 1 (permanent: the worker would fail the lead)' });
    expect(fetched.ignored).toEqual([{ event_id: null, reason: 'entry[0].changes[1].field feed is not leadgen' }]);
    const bad = await previewSource(registry, mapper, 'hubspot-main', jsonRequest('nope'));
    expect(bad.problems).toEqual([{ field: '(body)', message: expect.stringContaining('(body) must be') }]);
    expect(bad.leads).toEqual([]);
  });

  it('throws for a source that is not configured', async () => {
    await expect(previewSource(registry, mapper, 'nope', jsonRequest({}))).rejects.toBeInstanceOf(UnknownSourceError);
  });
});
