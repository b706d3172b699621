import { SourceDefinition, SourceRegistry } from '@app/sources';
import { EventEndpoints } from './event-endpoints';
import { readEventsConfig } from './events.config';
import { configErrorOf } from '@app/config/testing/config-error';

const A = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const B = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
const DEFAULT = ['lead.delivered', 'lead.failed', 'lead.erased', 'lead.updated'];

const json = (name: string, events?: SourceDefinition['events']): SourceDefinition => ({
  name,
  type: 'json',
  declaredIn: events ? 'SOURCES_FILE' : 'INTAKE_API_KEYS',
  credentials: { type: 'json', api_key: `${name}-key-0123456789`, webhook_secrets: [] },
  ...(events ? { events } : {}),
});


describe('SOURCE_EVENTS, SOURCE_EVENT_SECRETS, SOURCE_EVENT_TYPES', () => {
  it('reads endpoints with their secrets (several while rotating) and types (default: all but lead.retrying)', () => {
    const config = readEventsConfig({
      SOURCE_EVENTS: 'crm-a=https://a.example.com/hooks?x=1,crm-b=https://b.example.com/e',
      SOURCE_EVENT_SECRETS: `crm-a=${A},crm-b=${B},crm-a=${B}`,
      SOURCE_EVENT_TYPES: 'crm-b=lead.delivered|lead.retrying',
    });
    expect([...config.endpoints]).toEqual([
      ['crm-a', { url: 'https://a.example.com/hooks?x=1', secrets: [A, B], types: DEFAULT }],
      ['crm-b', { url: 'https://b.example.com/e', secrets: [B], types: ['lead.delivered', 'lead.retrying'] }],
    ]);
    expect(config).toMatchObject({ concurrency: 20, timeoutMs: 10_000 });
    expect(readEventsConfig({}).endpoints.size).toBe(0);
  });

  it.each([
    [{ SOURCE_EVENTS: 'crm-a=http://a.example.com/e', SOURCE_EVENT_SECRETS: `crm-a=${A}` }, 'SOURCE_EVENTS', 'URL of source "crm-a" must use https'],
    [{ SOURCE_EVENTS: 'crm-a=https://a.example.com/e' }, 'SOURCE_EVENT_SECRETS', 'has no secret for source "crm-a"'],
    [{ SOURCE_EVENTS: 'crm-a=https://a.example.com/e', SOURCE_EVENT_SECRETS: 'crm-a=whsec_tooshort' }, 'SOURCE_EVENT_SECRETS', 'secret of source "crm-a" must be "whsec_"'],
    [{ SOURCE_EVENTS: 'crm-a=https://a.example.com/e', SOURCE_EVENT_SECRETS: `crm-b=${A}` }, 'SOURCE_EVENT_SECRETS', 'names source "crm-b", which has no URL in SOURCE_EVENTS'],
    [{ SOURCE_EVENTS: 'crm-a=https://a.example.com/e', SOURCE_EVENT_SECRETS: `crm-a=${A}`, SOURCE_EVENT_TYPES: 'crm-a=lead.sent' }, 'SOURCE_EVENT_TYPES', 'has an unknown event type "lead.sent"'],
    [{ SOURCE_EVENTS: 'crm-a=https://a.example.com/e,crm-a=https://b.example.com/e' }, 'SOURCE_EVENTS', 'names source "crm-a" twice'],
    [{ SOURCE_EVENTS: 'https://a.example.com/e' }, 'SOURCE_EVENTS', 'must be comma-separated source=value pairs'],
  ])('%j is a boot error naming the variable', (env, variable, problem) => {
    const error = configErrorOf(() => readEventsConfig(env as Record<string, string>));
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(problem);
    expect(error.message).not.toContain('whsec_tooshort');
  });

  it('takes http with ALLOW_HTTP_URLS=true', () => {
    const config = readEventsConfig({ SOURCE_EVENTS: 'crm-a=http://127.0.0.1:9/e', SOURCE_EVENT_SECRETS: `crm-a=${A}`, ALLOW_HTTP_URLS: 'true' });
    expect(config.endpoints.get('crm-a')?.url).toBe('http://127.0.0.1:9/e');
  });
});

describe('EventEndpoints: the file and the environment merged', () => {
  const fileEndpoint = { url: 'https://file.example.com/e', secrets: [A], types: DEFAULT };

  it("gives each source its endpoint, from the file or SOURCE_EVENTS, and null for the others", () => {
    const registry = new SourceRegistry([json('filed', fileEndpoint), json('keyed'), json('silent')]);
    const env = readEventsConfig({ SOURCE_EVENTS: 'keyed=https://keyed.example.com/e', SOURCE_EVENT_SECRETS: `keyed=${B}` });
    const endpoints = new EventEndpoints(registry, env, { everySource: true });
    expect(endpoints.endpointFor('filed')).toEqual(fileEndpoint);
    expect(endpoints.endpointFor('keyed')).toEqual({ url: 'https://keyed.example.com/e', secrets: [B], types: DEFAULT });
    expect(endpoints.endpointFor('silent')).toBeNull();
    expect(endpoints.size).toBe(2);
  });

  it('refuses a source given an endpoint in both places', () => {
    const registry = new SourceRegistry([json('filed', fileEndpoint)]);
    const env = readEventsConfig({ SOURCE_EVENTS: 'filed=https://x.example.com/e', SOURCE_EVENT_SECRETS: `filed=${B}` });
    const error = configErrorOf(() => new EventEndpoints(registry, env, { everySource: false }));
    expect(error.message).toBe('SOURCE_EVENTS names source "filed", whose events endpoint SOURCES_FILE declares already (declared twice)');
  });

  it('the intake refuses a SOURCE_EVENTS name that is no source; the worker, which knows only the file, does not', () => {
    const env = readEventsConfig({ SOURCE_EVENTS: 'ghost=https://x.example.com/e', SOURCE_EVENT_SECRETS: `ghost=${B}` });
    expect(configErrorOf(() => new EventEndpoints(new SourceRegistry([json('keyed')]), env, { everySource: true })).message).toContain('names source "ghost", which is no source');
    expect(new EventEndpoints(new SourceRegistry([]), env, { everySource: false }).endpointFor('ghost')).not.toBeNull();
  });
});
