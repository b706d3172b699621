import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@app/config';
import { parseSources, readSourcesConfig } from './sources.config';
import { SourceRegistry } from './source.registry';

const dir = mkdtempSync(join(tmpdir(), 'sources-'));
let files = 0;
function file(text: string): string {
  const path = join(dir, `sources-${files++}.yml`);
  writeFileSync(path, text);
  return path;
}

const WHSEC = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;

function bootError(text: string, env: Record<string, string> = {}): string {
  try {
    parseSources(text, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('SOURCES_FILE');
    return (error as Error).message;
  }
  throw new Error('no error');
}

describe('readSourcesConfig', () => {
  it('has no file sources without SOURCES_FILE, and the platforms\' URLs by default', () => {
    expect(readSourcesConfig({})).toEqual({
      sources: [],
      file: null,
      hubspotApiUrl: 'https://api.hubapi.com',
      pipedriveApiUrl: 'https://api.pipedrive.com',
      facebookGraphUrl: 'https://graph.facebook.com/v23.0',
      publicBaseUrl: null,
    });
    const config = readSourcesConfig({ HUBSPOT_API_URL: 'http://127.0.0.1:9000/', PUBLIC_BASE_URL: 'https://leads.example.com' });
    expect(config.hubspotApiUrl).toBe('http://127.0.0.1:9000');
    expect(config.publicBaseUrl).toBe('https://leads.example.com');
    expect(() => readSourcesConfig({ FACEBOOK_GRAPH_URL: 'ftp://x' })).toThrow('FACEBOOK_GRAPH_URL must use one of http:, https:');
  });

  it('reads every type, with ${VAR} secrets and a compiled mapping', () => {
    const path = file(`
sources:
  - name: hubspot-main
    type: hubspot
    client_secret: \${HS_SECRET}
    access_token: token-\${HS_TOKEN}
    distribution_id: 11111111-2222-4333-8444-555555555555
    origin: HubSpot
    mapping: |
      $default ~> | prospect | { "risk_objects": { "cars": [{ "vin": record.properties.vin }] } } |
  - { name: pd, type: pipedrive, basic_auth: { username: wegroup, password: "\${PD_PASSWORD}" }, api_token: abc }
  - { name: sf, type: salesforce, organization_id: 00D5g000004AbcdEAA }
  - { name: tf, type: typeform, secret: s }
  - { name: fb, type: facebook, app_secret: a, verify_token: v, page_access_token: p }
  - { name: zoho, type: zoho, token: zoho-token-0123456789 }
  - { name: dyn, type: dynamics, token: dyn-token-0123456789 }
  - { name: crm, type: json, api_key: json-key-0123456789, webhook_secret: ${WHSEC} }
`);
    const config = readSourcesConfig({ SOURCES_FILE: path, HS_SECRET: 'the-secret', HS_TOKEN: 'x', PD_PASSWORD: 'password-0123456789' });
    expect(config.file).toBe(path);
    expect(config.sources.map((source) => source.type)).toEqual(['hubspot', 'pipedrive', 'salesforce', 'typeform', 'facebook', 'zoho', 'dynamics', 'json']);
    expect(config.sources[0]).toEqual({
      name: 'hubspot-main',
      type: 'hubspot',
      declaredIn: 'SOURCES_FILE',
      credentials: { type: 'hubspot', client_secret: 'the-secret', api_key: undefined, access_token: 'token-x' },
      distributionId: '11111111-2222-4333-8444-555555555555',
      origin: 'HubSpot',
      mapping: expect.stringContaining('$default'),
    });
    expect(config.sources[1].credentials).toEqual({ type: 'pipedrive', basic_auth: { username: 'wegroup', password: 'password-0123456789' }, api_token: 'abc' });
    expect(config.sources[7].credentials).toEqual({ type: 'json', api_key: 'json-key-0123456789', webhook_secrets: [WHSEC] });
  });

  it('takes an empty file and an empty list', () => {
    expect(readSourcesConfig({ SOURCES_FILE: file('') }).sources).toEqual([]);
    expect(readSourcesConfig({ SOURCES_FILE: file('# nothing yet\nsources: []\n') }).sources).toEqual([]);
  });

  it('stops boot on a missing file or bad YAML, never quoting the file', () => {
    expect(() => readSourcesConfig({ SOURCES_FILE: join(dir, 'nope.yml') })).toThrow(/^SOURCES_FILE ".*nope.yml" does not exist$/);
    const message = bootError('sources:\n  - name: x\n    token: "secret-value\n');
    expect(message).toMatch(/^SOURCES_FILE is not valid YAML at line \d+, column \d+ \(\w+\)$/);
    expect(message).not.toContain('secret-value');
    expect(bootError('sources: {}')).toBe('SOURCES_FILE `sources` must be a list');
    expect(bootError('source: []')).toContain('unknown top-level key "source"');
  });
});

describe('boot errors, one line naming the source and the problem', () => {
  const cases: Array<[string, string, Record<string, string>?]> = [
    ['- { name: a, type: hubspot }', 'source "a": client_secret (signature v3) or api_key is required for a hubspot source'],
    ['- { name: a, type: pipedrive }', 'source "a": basic_auth is required for a pipedrive source'],
    ['- { name: a, type: pipedrive, basic_auth: { username: u } }', 'source "a": basic_auth.password is required'],
    ['- { name: a, type: pipedrive, basic_auth: { username: u, password: pppppppppppppppp, pasword: x } }', 'source "a": unknown key "basic_auth.pasword"'],
    ['- { name: a, type: salesforce, organization_id: 123 }', 'source "a": organization_id must be a Salesforce org id'],
    ['- { name: a, type: typeform }', 'source "a": secret is required for a typeform source'],
    ['- { name: a, type: facebook, app_secret: x, verify_token: y }', 'source "a": page_access_token is required for a facebook source'],
    ['- { name: a, type: zoho, token: short }', 'source "a": token is shorter than 16 characters'],
    ['- { name: a, type: json, api_key: json-key-0123456789, webhook_secret: nope }', 'source "a": webhook_secret must be "whsec_"'],
    ['- { name: a, type: crm }', 'source "a": type must be one of hubspot, pipedrive, salesforce, typeform, facebook, zoho, dynamics, json, got "crm"'],
    ['- { name: a, type: typeform, secret: s, secrett: t }', 'source "a": unknown key "secrett" (a typeform source takes secret, distribution_id, origin, mapping, events)'],
    ['- { name: a, type: typeform, secret: s }\n- { name: a, type: zoho, token: zoho-token-0123456789 }', 'source "a" is declared twice'],
    ['- { name: "a b", type: typeform, secret: s }', 'sources[0] has an invalid name'],
    ['- { type: typeform, secret: s }', 'sources[0] has no name'],
    ['- { name: a, type: typeform, secret: s, distribution_id: "a b" }', 'source "a": distribution_id may hold only'],
    ['- { name: a, type: typeform, secret: "${TF_SECRET}" }', 'source "a": secret refers to ${TF_SECRET}, which is not set'],
    ['- { name: a, type: typeform, secret: "${TF_SECRET}" }', 'source "a": secret refers to ${TF_SECRET}, which is not set', { TF_SECRET: '  ' }],
  ];
  it.each(cases)('%s', (entries, expected, env = {}) => {
    expect(bootError(`sources:\n${entries.replace(/^/gm, '  ')}`, env)).toContain(`SOURCES_FILE ${expected}`);
  });

  it('a mapping that does not compile names JSONata\'s code and position', () => {
    expect(bootError('sources:\n  - { name: a, type: typeform, secret: s, mapping: "{ \\"a\\": [1, 2 }" }')).toMatch(
      /^SOURCES_FILE source "a": mapping does not compile: JSONata error S0\d{3} at position \d+: /,
    );
  });

  it('never prints a secret value', () => {
    const message = bootError('sources:\n  - { name: a, type: zoho, token: "${T}" }', { T: 'tiny' });
    expect(message).toBe('SOURCES_FILE source "a": token is shorter than 16 characters');
  });
});

describe('SourceRegistry', () => {
  const fileSources = parseSources('sources:\n  - { name: crm, type: json, api_key: file-key-0123456789 }\n  - { name: tf, type: typeform, secret: s }', {});

  it('adds INTAKE_API_KEYS as json sources (one per name, all its keys) and answers the intake\'s key maps', () => {
    const fromKeys = SourceRegistry.fromApiKeys(
      new Map([
        ['key-one-0123456789', 'legacy'],
        ['key-two-0123456789', 'legacy'],
        ['key-three-012345678', 'other'],
      ]),
      new Map([['legacy', [WHSEC]]]),
    );
    expect(fromKeys[0]).toEqual({
      name: 'legacy',
      type: 'json',
      declaredIn: 'INTAKE_API_KEYS',
      credentials: { type: 'json', api_key: 'key-one-0123456789', api_keys: ['key-one-0123456789', 'key-two-0123456789'], webhook_secrets: [WHSEC] },
    });
    const registry = new SourceRegistry([...fileSources, ...fromKeys]);
    expect(registry.apiKeys()).toEqual(
      new Map([
        ['file-key-0123456789', 'crm'],
        ['key-one-0123456789', 'legacy'],
        ['key-two-0123456789', 'legacy'],
        ['key-three-012345678', 'other'],
      ]),
    );
    expect(registry.webhookSecrets()).toEqual(new Map([['legacy', [WHSEC]]]));
    expect(registry.get('tf')?.type).toBe('typeform');
    expect(registry.all()).toHaveLength(4);
  });

  it('refuses a name or a key declared twice, naming the variables', () => {
    const sameName = SourceRegistry.fromApiKeys(new Map([['another-key-0123456', 'crm']]), new Map());
    expect(() => new SourceRegistry([...fileSources, ...sameName])).toThrow('SOURCES_FILE and INTAKE_API_KEYS source "crm" is declared twice (in SOURCES_FILE and in INTAKE_API_KEYS)');
    const sameKey = SourceRegistry.fromApiKeys(new Map([['file-key-0123456789', 'legacy']]), new Map());
    expect(() => new SourceRegistry([...fileSources, ...sameKey])).toThrow('the api_key of source "legacy" is also the key of source "crm"');
  });
});

describe('events endpoints in the sources file', () => {
  const source = (events: string) => `sources:\n  - name: crm\n    type: json\n    api_key: json-key-0123456789\n    events: ${events}\n`;
  const OTHER = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

  it('reads url, ${VAR} secret (or a list) and types; types default to all but lead.retrying', () => {
    const [plain] = parseSources(source('{ url: "https://crm.example.com/hooks/wegroup", secret: "${EVENTS_SECRET}" }'), { EVENTS_SECRET: WHSEC });
    expect(plain.events).toEqual({ url: 'https://crm.example.com/hooks/wegroup', secrets: [WHSEC], types: ['lead.delivered', 'lead.failed', 'lead.erased', 'lead.updated'] });
    const [listed] = parseSources(source(`{ url: "https://crm.example.com/e", secret: [${WHSEC}, ${OTHER}], types: [lead.retrying, lead.failed] }`), {});
    expect(listed.events).toEqual({ url: 'https://crm.example.com/e', secrets: [WHSEC, OTHER], types: ['lead.retrying', 'lead.failed'] });
    expect(parseSources(source('null'), {})[0].events).toBeUndefined();
  });

  it('takes http only with ALLOW_HTTP_URLS=true', () => {
    expect(bootError(source(`{ url: "http://127.0.0.1:9/e", secret: ${WHSEC} }`))).toContain('source "crm": events.url must use https (http only with ALLOW_HTTP_URLS=true');
    expect(parseSources(source(`{ url: "http://127.0.0.1:9/e", secret: ${WHSEC} }`), { ALLOW_HTTP_URLS: 'true' })[0].events?.url).toBe('http://127.0.0.1:9/e');
  });

  it.each([
    [`{ url: "https://crm.example.com/e", secret: ${WHSEC}, types: [lead.deliverd] }`, 'events.types has an unknown event type "lead.deliverd"'],
    [`{ url: "https://crm.example.com/e", secret: ${WHSEC}, types: [] }`, 'events.types lists no event type'],
    [`{ url: "https://crm.example.com/e", secret: ${WHSEC}, types: [lead.failed, lead.failed] }`, 'events.types lists an event type twice'],
    ['{ url: "https://crm.example.com/e" }', 'events.secret is required when events.url is set'],
    [`{ secret: ${WHSEC} }`, 'events.url is required'],
    ['{ url: "https://crm.example.com/e", secret: "whsec_short-but-secret" }', 'events.secret must be "whsec_" followed by 24 to 64 random bytes'],
    [`{ url: "https://user:pw@crm.example.com/e", secret: ${WHSEC} }`, 'events.url must not hold credentials'],
    [`{ url: "not a url", secret: ${WHSEC} }`, 'events.url is not a valid URL'],
    [`{ url: "https://crm.example.com/e", secret: ${WHSEC}, retries: 3 }`, 'unknown key "events.retries"'],
    ['https://crm.example.com/e', 'events must be a mapping'],
  ])('%s is a boot error naming the key', (events, expected) => {
    const message = bootError(source(events));
    expect(message).toContain(`source "crm": ${expected}`);
    expect(message).not.toContain('short-but-secret');
    expect(message).not.toContain(WHSEC);
  });
});
