import { NestFactory } from '@nestjs/core';
import { JsonataLeadMapper, NativeLeadMapper } from './native-lead.mapper';
import { SourceRecordFetcher } from './record.fetcher';
import { SourceRegistry } from './source.registry';
import { readSourcesConfig } from './sources.config';
import { SOURCES_CONFIG, SourcesModule } from './sources.module';
import { TEST_SOURCES } from './testing/native-fixtures';

describe('SourcesModule', () => {
  it('provides the registry, the config, the fetcher and the mapper', async () => {
    const config = readSourcesConfig({});
    const registry = new SourceRegistry([TEST_SOURCES.zoho]);
    const module = await NestFactory.createApplicationContext(SourcesModule.forRoot(config, registry, { allowHttpUrls: true }), { logger: false });
    expect(module.get(SourceRegistry)).toBe(registry);
    expect(module.get(SOURCES_CONFIG)).toBe(config);
    expect(module.get(SourceRecordFetcher)).toBeInstanceOf(SourceRecordFetcher);
    const mapper = module.get(NativeLeadMapper);
    expect(mapper).toBeInstanceOf(JsonataLeadMapper);
    const lead = await mapper.map({ ...TEST_SOURCES.zoho, mapping: '$merge([$default, { "backref": "http://crm.local/1" }])' }, { eventId: 'x', payload: { First_Name: 'A', Last_Name: 'B' } });
    expect(lead.backref).toBe('http://crm.local/1');
    await module.close();
  });
});
