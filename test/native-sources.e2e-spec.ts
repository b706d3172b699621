import { Queue } from 'bullmq';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { callbackUrl, readDataKeyring } from '@app/leads';
import { keyPrefix, LEADS_QUEUE, RedisClient } from '@app/queue';
import { FakePlatformApi, startFakeGraph, startFakeHubspot, startFakePipedrive } from './support/fake-platforms';
import { basicAuthorization, facebookSignature, hubspotV3Headers, standardWebhookHeaders, typeformSignature } from './support/native-signing';
import { connectRedis } from './support/redis-keys';
import { INTAKE_KEY, lead, OPS_AUTH, SandboxControl, Stack, StartedSandbox, startStackWithSandbox, stopStackWithSandbox, TEST_DATA_KEY } from './support/stack';
import { waitFor } from './support/wait';

/**
 * Native sources end to end: the real intake, worker and WeGroup sandbox, a SOURCES_FILE
 * declaring one source of every type (secrets as ${VAR} references), and real HTTP servers
 * standing in for HubSpot's CRM API, Pipedrive's API v2 and the Graph API. Every payload is a
 * documented one (test/fixtures/native/README.md says where each comes from), signed the way
 * the platform signs it (test/support/native-signing.ts), and each lead is checked field by
 * field as WeGroup (the sandbox) received it.
 */

type Json = Record<string, any>;

const FIXTURES = path.join(__dirname, 'fixtures', 'native');
const fixture = (file: string): string => readFileSync(path.join(FIXTURES, file), 'utf8');
const fixtureJson = (file: string): any => JSON.parse(fixture(file));

/** How the intake is reached from the platforms' side: HubSpot signs this URL, GET /v1/sources shows it. */
const PUBLIC_BASE_URL = 'https://leads.example.test';
const hookUrl = (source: string) => `${PUBLIC_BASE_URL}/v1/hooks/${source}`;

/** SourceAdapter.platform: the default `origin` and `external_ref_company` of each type's leads. */
const PLATFORM = {
  hubspot: 'HubSpot',
  pipedrive: 'Pipedrive',
  salesforce: 'Salesforce',
  typeform: 'Typeform',
  facebook: 'Facebook Lead Ads',
  zoho: 'Zoho CRM',
  dynamics: 'Dynamics 365',
} as const;

const secret = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;
/** The sources' secrets, given to the apps as environment variables and referenced from the file as ${NAME}. */
const SECRETS = {
  HUBSPOT_CLIENT_SECRET: secret('hs-secret-'),
  HUBSPOT_ACCESS_TOKEN: secret('pat-eu1-'),
  HUBSPOT_WORKFLOW_KEY: secret('hs-workflow-key-'),
  PIPEDRIVE_PASSWORD: secret('pd-password-'),
  PIPEDRIVE_API_TOKEN: secret('pd-token-'),
  PIPEDRIVE_WRONG_API_TOKEN: secret('pd-revoked-'),
  TYPEFORM_SECRET: secret('tf-secret-'),
  FACEBOOK_APP_SECRET: secret('fb-app-secret-'),
  FACEBOOK_VERIFY_TOKEN: secret('fb-verify-'),
  FACEBOOK_PAGE_TOKEN: secret('EAAB'),
  ZOHO_TOKEN: secret('zoho-token-'),
  DYNAMICS_TOKEN: secret('dv-token-'),
  JSON_API_KEY: secret('json-key-'),
  JSON_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
};
const PIPEDRIVE_USER = 'wegroup-hook';
const SALESFORCE_ORG = '00D5e000000KQ2eEAG';

/** One WeGroup distribution per source, so the sandbox tells their leads apart. */
const SOURCE_NAMES = [
  'hubspot-main',
  'hubspot-vin',
  'hubspot-broken',
  'pipedrive-main',
  'pipedrive-revoked',
  'salesforce-main',
  'typeform-main',
  'facebook-main',
  'zoho-main',
  'dynamics-main',
  'json-main',
] as const;
type SourceName = (typeof SOURCE_NAMES)[number];
const DIST = Object.fromEntries(SOURCE_NAMES.map((name) => [name, randomUUID()])) as Record<SourceName, string>;

const VIN_MAPPING = '$default ~> | prospect | { "risk_objects": { "cars": [{ "vin": $$.record.properties.vin }] } } |';
const DROPS_LAST_NAME = '$default ~> | prospect | {}, ["last_name"] |';

/** The sources file; `brokenMapping` is hubspot-broken's mapping (fixed later in the replay test). */
function sourcesYaml(brokenMapping: string): string {
  return `# Written by test/native-sources.e2e-spec.ts: one source of every type.
sources:
  - name: hubspot-main
    type: hubspot
    client_secret: \${HUBSPOT_CLIENT_SECRET}
    access_token: \${HUBSPOT_ACCESS_TOKEN}
    distribution_id: ${DIST['hubspot-main']}
  - name: hubspot-vin
    type: hubspot
    api_key: \${HUBSPOT_WORKFLOW_KEY}
    distribution_id: ${DIST['hubspot-vin']}
    mapping: '${VIN_MAPPING}'
  - name: hubspot-broken
    type: hubspot
    api_key: \${HUBSPOT_WORKFLOW_KEY}
    distribution_id: ${DIST['hubspot-broken']}
    mapping: '${brokenMapping}'
  - name: pipedrive-main
    type: pipedrive
    basic_auth:
      username: ${PIPEDRIVE_USER}
      password: \${PIPEDRIVE_PASSWORD}
    api_token: \${PIPEDRIVE_API_TOKEN}
    distribution_id: ${DIST['pipedrive-main']}
    origin: Pipedrive CRM
  - name: pipedrive-revoked
    type: pipedrive
    basic_auth:
      username: ${PIPEDRIVE_USER}
      password: \${PIPEDRIVE_PASSWORD}
    api_token: \${PIPEDRIVE_WRONG_API_TOKEN}
    distribution_id: ${DIST['pipedrive-revoked']}
  - name: salesforce-main
    type: salesforce
    organization_id: ${SALESFORCE_ORG}
    distribution_id: ${DIST['salesforce-main']}
  - name: typeform-main
    type: typeform
    secret: \${TYPEFORM_SECRET}
    distribution_id: ${DIST['typeform-main']}
  - name: facebook-main
    type: facebook
    app_secret: \${FACEBOOK_APP_SECRET}
    verify_token: \${FACEBOOK_VERIFY_TOKEN}
    page_access_token: \${FACEBOOK_PAGE_TOKEN}
    distribution_id: ${DIST['facebook-main']}
  - name: zoho-main
    type: zoho
    token: \${ZOHO_TOKEN}
    distribution_id: ${DIST['zoho-main']}
  - name: dynamics-main
    type: dynamics
    token: \${DYNAMICS_TOKEN}
    distribution_id: ${DIST['dynamics-main']}
    origin: Dynamics
  - name: json-main
    type: json
    api_key: \${JSON_API_KEY}
    webhook_secret: \${JSON_WEBHOOK_SECRET}
    distribution_id: ${DIST['json-main']}
`;
}

interface HookAnswer {
  status: number;
  headers: Headers;
  text: string;
  body: Json;
}

/** What a lead WeGroup received must hold; a field left undefined here must be absent there. */
interface ExpectedLead {
  origin: string;
  ref: string;
  first_name: string;
  last_name: string;
  email?: string;
  telephonenr?: string;
  birth?: string;
  language?: string;
  organisation?: string;
  address?: { street: string; zipcode: string; city: string; country_code?: string };
  /** The link back to the record, where the platform lets one be built. */
  backref?: RegExp;
}

describe('native sources: each platform posts its own webhook, and WeGroup receives the lead', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;
  let hubspot: FakePlatformApi;
  let pipedrive: FakePlatformApi;
  let graph: FakePlatformApi;
  let dir: string;
  let sourcesFile: string;
  let redis: RedisClient;
  let queue: Queue;

  beforeAll(async () => {
    hubspot = (await startFakeHubspot(SECRETS.HUBSPOT_ACCESS_TOKEN))
      .record('512', fixtureJson('hubspot/crm-v3-contact-512.json'))
      .record('513', fixtureJson('hubspot/crm-v3-contact-513.json'));
    pipedrive = (await startFakePipedrive(SECRETS.PIPEDRIVE_API_TOKEN)).record('102', fixtureJson('pipedrive/api-v2-person-102.json'));
    graph = (await startFakeGraph(SECRETS.FACEBOOK_PAGE_TOKEN))
      .record('900000000000001', fixtureJson('facebook/graph-lead-900000000000001.json'))
      .record('900000000000002', fixtureJson('facebook/graph-lead-900000000000002.json'));
    dir = mkdtempSync(path.join(tmpdir(), 'native-sources-'));
    sourcesFile = path.join(dir, 'sources.yml');
    writeFileSync(sourcesFile, sourcesYaml(DROPS_LAST_NAME));
    ({ sandbox, control, stack } = await startStackWithSandbox('native-sources', {
      SOURCES_FILE: sourcesFile,
      HUBSPOT_API_URL: hubspot.url,
      PIPEDRIVE_API_URL: pipedrive.url,
      FACEBOOK_GRAPH_URL: `${graph.url}/v23.0`,
      PUBLIC_BASE_URL,
      // The fake platform APIs listen on http://127.0.0.1.
      ALLOW_HTTP_URLS: 'true',
      // Four attempts, 0.2 s apart: the fetch-failure tests wait for retries.
      DELIVERY_RETRY_SCHEDULE: '0.2,0.2,0.2',
      ...SECRETS,
    }));
    redis = connectRedis(stack.env);
    // Read-only observer of the leads queue, to prove a refused request stored nothing.
    queue = new Queue(LEADS_QUEUE, { connection: redis, prefix: keyPrefix(stack.queuePrefix), skipMetasUpdate: true });
  });

  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await stopStackWithSandbox({ sandbox, stack });
    await Promise.all([hubspot?.close(), pipedrive?.close(), graph?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // --- helpers -------------------------------------------------------------------------------

  async function hook(source: string, body: string | Buffer | undefined, headers: Record<string, string>, query = '', method = 'POST'): Promise<HookAnswer> {
    const response = await fetch(`${stack.url}/v1/hooks/${source}${query}`, { method, headers, body });
    const text = await response.text();
    let json: Json = {};
    try {
      json = JSON.parse(text) as Json;
    } catch {
      // XML (Salesforce's Ack) or text (Facebook's challenge)
    }
    return { status: response.status, headers: response.headers, text, body: json };
  }

  const jsonHeaders = { 'content-type': 'application/json' };

  function hubspotSigned(source: string, body: string, timestamp?: number, clientSecret = SECRETS.HUBSPOT_CLIENT_SECRET): Promise<HookAnswer> {
    return hook(source, body, { ...jsonHeaders, ...hubspotV3Headers({ clientSecret, uri: hookUrl(source), body, timestamp }) });
  }

  function pipedrivePost(source: string, body: string, password = SECRETS.PIPEDRIVE_PASSWORD): Promise<HookAnswer> {
    return hook(source, body, { ...jsonHeaders, authorization: basicAuthorization(PIPEDRIVE_USER, password) });
  }

  function typeformPost(body: string, secretValue = SECRETS.TYPEFORM_SECRET): Promise<HookAnswer> {
    return hook('typeform-main', body, { ...jsonHeaders, 'typeform-signature': typeformSignature(secretValue, body) });
  }

  function facebookPost(body: string, appSecret = SECRETS.FACEBOOK_APP_SECRET): Promise<HookAnswer> {
    return hook('facebook-main', body, { ...jsonHeaders, 'x-hub-signature-256': facebookSignature(appSecret, body) });
  }

  function salesforcePost(xml: string): Promise<HookAnswer> {
    return hook('salesforce-main', xml, { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' });
  }

  async function asOps(route: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${stack.url}${route}`, { ...init, headers: { authorization: OPS_AUTH, ...init.headers } });
  }

  /** A lead's status view as ops see it (a native source has no X-API-Key to read its leads with). */
  async function leadView(id: string): Promise<Json> {
    const response = await asOps(`/v1/leads/${id}`);
    return { http_status: response.status, ...((await response.json()) as Json) };
  }

  function waitForLead(id: string, statuses: string[], timeoutMs = 20_000): Promise<Json> {
    return waitFor(`lead ${id} to be ${statuses.join('/')}`, async () => {
      const view = await leadView(id);
      return statuses.includes(view.status) ? view : undefined;
    }, { timeoutMs });
  }

  /**
   * The leads WeGroup created for this source, once every expected external_ref arrived (a
   * ref listed twice must arrive twice). Waits on refs, not counts, so one failing test does
   * not hold up the next.
   */
  async function receivedBy(source: SourceName, refs: string[]): Promise<Json[]> {
    return waitFor(`lead(s) ${refs.join(', ')} of ${source} at WeGroup`, async () => {
      const bodies = (await control.requests(DIST[source])).filter((request) => request.status === 201).map((request) => request.body as Json);
      const refOf = (body: Json) => body.prospect?.external_ref?.external_ref;
      const complete = [...new Set(refs)].every((ref) => bodies.filter((body) => refOf(body) === ref).length >= refs.filter((r) => r === ref).length);
      return complete ? bodies.filter((body) => refs.includes(refOf(body))) : undefined;
    });
  }

  /** Every job under this stack's prefix, whatever its state: unchanged means nothing was stored. */
  async function storedJobs(): Promise<number> {
    return queue.getJobCountByTypes('waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized', 'waiting-children');
  }

  function byRef(bodies: Json[], ref: string): Json {
    const found = bodies.find((body) => body.prospect?.external_ref?.external_ref === ref);
    if (!found) throw new Error(`no lead with external_ref ${ref} among ${bodies.length}`);
    return found;
  }

  /** The lead WeGroup received, field by field; every string non-empty (a field the platform lacks is left out). */
  function expectLead(body: Json, expected: ExpectedLead, platform: string): void {
    const prospect = body.prospect as Json;
    expect(body.origin).toBe(expected.origin);
    expect(body).not.toHaveProperty('distribution_id');
    expect({
      first_name: prospect.first_name,
      last_name: prospect.last_name,
      email: prospect.email,
      telephonenr: prospect.telephonenr,
      birth: prospect.birth,
      language: prospect.language,
      company: prospect.company,
      external_ref: prospect.external_ref,
    }).toEqual({
      first_name: expected.first_name,
      last_name: expected.last_name,
      email: expected.email,
      telephonenr: expected.telephonenr,
      birth: expected.birth,
      language: expected.language,
      company: expected.organisation === undefined ? undefined : { name: expected.organisation },
      external_ref: { external_ref: expected.ref, external_ref_company: platform },
    });
    if (expected.address) {
      const { street, housenr, boxnr, zipcode, city, country_code } = prospect.address ?? {};
      // The platforms give "Kerkstraat 12" in one field; whether the mapping splits the house
      // number off is its choice, but nothing may be lost or reordered.
      expect({ street: [street, housenr, boxnr].filter((part) => part !== undefined).join(' '), zipcode, city, country_code }).toEqual(expected.address);
    } else {
      expect(prospect.address).toBeUndefined();
    }
    if (expected.backref) expect(body.backref).toMatch(expected.backref);
    const blanks: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (typeof node === 'string' && node.trim() === '') blanks.push(at);
      else if (node && typeof node === 'object') for (const [key, value] of Object.entries(node)) walk(value, `${at}.${key}`);
    };
    walk(body, 'lead');
    expect(blanks).toEqual([]);
  }

  function expectAccepted(answer: HookAnswer, count: number): string[] {
    expect({ status: answer.status, accepted: answer.body.accepted, replayed: answer.body.replayed }).toEqual({ status: 200, accepted: count, replayed: 0 });
    expect(answer.body.leads).toHaveLength(count);
    for (const lead of answer.body.leads as Json[]) {
      expect(lead).toMatchObject({ status: 'accepted', id: expect.any(String), location: `/v1/leads/${lead.id}` });
    }
    return (answer.body.leads as Json[]).map((lead) => lead.id as string);
  }

  /** A refused request: 401, the problem names the header or parameter at fault, and nothing was stored or sent. */
  async function expectRefused(send: () => Promise<HookAnswer>, field: RegExp, source: SourceName): Promise<void> {
    const before = await storedJobs();
    const sentBefore = (await control.requests(DIST[source])).length;
    const answer = await send();
    expect(answer.status).toBe(401);
    expect(answer.body.detail).toMatch(field);
    for (const value of Object.values(SECRETS)) expect(answer.text).not.toContain(value);
    expect(await storedJobs()).toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await control.requests(DIST[source])).length).toBe(sentBefore);
  }

  // --- HubSpot ------------------------------------------------------------------------------

  describe('HubSpot', () => {
    it('a workflow "Send a webhook" body, signed v3 over PUBLIC_BASE_URL: one lead, history values flattened, language and address mapped', async () => {
      const body = fixture('hubspot/workflow-contact.json');
      const [id] = expectAccepted(await hubspotSigned('hubspot-main', body), 1);
      expect(await waitForLead(id, ['delivered', 'failed'])).toMatchObject({ status: 'delivered', source: 'hubspot-main', distribution_id: DIST['hubspot-main'] });
      const [received] = await receivedBy('hubspot-main', ['4101']);
      expectLead(received, {
        origin: PLATFORM.hubspot,
        ref: '4101',
        first_name: 'Jan',
        last_name: 'Janssens',
        email: 'jan.janssens@example.com',
        telephonenr: '+32470000101',
        language: 'NL',
        organisation: 'Janssens Transport BV',
        address: { street: 'Kerkstraat 12', zipcode: '9000', city: 'Gent', country_code: 'BE' },
        backref: /^https:\/\/app(-[a-z0-9]+)?\.hubspot\.com\/contacts\/62515\/.*\b4101$/,
      }, PLATFORM.hubspot);
      // A workflow body carries the record: nothing to fetch.
      expect(hubspot.requests.filter((request) => request.id === '4101')).toEqual([]);
    });

    it('Webhooks API v3: an array of 2 contact.creation events is 2 leads, each contact fetched with the private-app token; a redelivery is replayed', async () => {
      const events = fixtureJson('hubspot/webhooks-v3-contact-creation.json') as Json[];
      const body = JSON.stringify(events);
      const ids = expectAccepted(await hubspotSigned('hubspot-main', body), 2);
      for (const id of ids) expect(await waitForLead(id, ['delivered', 'failed'])).toMatchObject({ status: 'delivered' });

      const received = await receivedBy('hubspot-main', ['512', '513']);
      expectLead(byRef(received, '512'), {
        origin: PLATFORM.hubspot,
        ref: '512',
        first_name: 'Marie',
        last_name: 'Peeters',
        email: 'marie.peeters@example.com',
        telephonenr: '+32470000102',
        organisation: 'Peeters Bakkerij',
        address: { street: 'Stationsstraat 5', zipcode: '2000', city: 'Antwerpen', country_code: 'BE' },
        backref: /^https:\/\/app(-[a-z0-9]+)?\.hubspot\.com\/contacts\/62515\/.*\b512$/,
      }, PLATFORM.hubspot);
      expectLead(byRef(received, '513'), {
        origin: PLATFORM.hubspot,
        ref: '513',
        first_name: 'Pieter',
        last_name: 'De Smet',
        email: 'pieter.desmet@example.com',
        telephonenr: '+32470000103',
        backref: /^https:\/\/app(-[a-z0-9]+)?\.hubspot\.com\/contacts\/62515\/.*\b513$/,
      }, PLATFORM.hubspot);
      for (const objectId of ['512', '513']) {
        const fetched = hubspot.requestsFor(objectId);
        expect(fetched.map((request) => [request.method, request.path, request.status])).toEqual([['GET', `/crm/v3/objects/contacts/${objectId}`, 200]]);
        expect(fetched[0].headers.authorization).toBe(`Bearer ${SECRETS.HUBSPOT_ACCESS_TOKEN}`);
      }

      // HubSpot retries with attemptNumber raised (and a new signature): the same two leads, nothing new.
      const again = await hubspotSigned('hubspot-main', JSON.stringify(events.map((event) => ({ ...event, attemptNumber: 1 }))));
      expect({ status: again.status, accepted: again.body.accepted, replayed: again.body.replayed }).toEqual({ status: 200, accepted: 0, replayed: 2 });
      expect((again.body.leads as Json[]).map((lead) => [lead.id, lead.status]).sort()).toEqual(ids.map((id) => [id, 'replayed']).sort());
      await stack.waitUntilDrained();
      const refs = (await control.requests(DIST['hubspot-main'])).filter((request) => request.status === 201).map((request) => request.body.prospect.external_ref.external_ref);
      expect(refs.filter((ref: string) => ref === '512' || ref === '513').sort()).toEqual(['512', '513']);
    });

    it('a custom mapping: $default plus the VIN of a custom property in risk_objects.cars (a workflow webhook authenticated by API key)', async () => {
      const answer = await hook('hubspot-vin', fixture('hubspot/workflow-contact.json'), { ...jsonHeaders, 'x-api-key': SECRETS.HUBSPOT_WORKFLOW_KEY });
      const [id] = expectAccepted(answer, 1);
      await waitForLead(id, ['delivered']);
      const [received] = await receivedBy('hubspot-vin', ['4101']);
      expect(received.prospect).toMatchObject({
        first_name: 'Jan',
        last_name: 'Janssens',
        external_ref: { external_ref: '4101', external_ref_company: PLATFORM.hubspot },
        risk_objects: { cars: [{ vin: 'WBA6L7100LFH65459' }] },
      });
    });

    it('refuses a wrong client secret, a stale timestamp and a tampered body with 401, storing nothing', async () => {
      const body = fixture('hubspot/workflow-contact.json');
      await expectRefused(() => hubspotSigned('hubspot-main', body, undefined, 'not-the-client-secret'), /X-HubSpot-Signature-v3/i, 'hubspot-main');
      // Correctly signed, six minutes ago: HubSpot says to refuse anything older than five.
      await expectRefused(() => hubspotSigned('hubspot-main', body, Date.now() - 6 * 60_000), /X-HubSpot-Request-Timestamp/i, 'hubspot-main');
      const signed = hubspotV3Headers({ clientSecret: SECRETS.HUBSPOT_CLIENT_SECRET, uri: hookUrl('hubspot-main'), body });
      const tampered = body.replace('jan.janssens@example.com', 'mallory@example.com');
      await expectRefused(() => hook('hubspot-main', tampered, { ...jsonHeaders, ...signed }), /X-HubSpot-Signature-v3/i, 'hubspot-main');
      // Signed for another URL (a proxy that rewrote the path): refused too.
      const elsewhere = hubspotV3Headers({ clientSecret: SECRETS.HUBSPOT_CLIENT_SECRET, uri: hookUrl('hubspot-other'), body });
      await expectRefused(() => hook('hubspot-main', body, { ...jsonHeaders, ...elsewhere }), /X-HubSpot-Signature-v3/i, 'hubspot-main');
      await expectRefused(() => hook('hubspot-vin', body, { ...jsonHeaders, 'x-api-key': 'not-the-workflow-key' }), /X-API-Key/i, 'hubspot-vin');
    });

    it('a v3 event that is not what HubSpot sends (no objectId) is a 400 naming the field; nothing stored', async () => {
      const [event] = fixtureJson('hubspot/webhooks-v3-contact-creation.json') as Json[];
      delete event.objectId;
      const before = await storedJobs();
      const answer = await hubspotSigned('hubspot-main', JSON.stringify([{ ...event, eventId: 1500 }]));
      expect(answer.status).toBe(400);
      expect(JSON.stringify(answer.body.errors ?? answer.body.detail)).toMatch(/objectId/);
      expect(await storedJobs()).toBe(before);
    });
  });

  // --- Pipedrive ----------------------------------------------------------------------------

  describe('Pipedrive', () => {
    it('a created person maps from the event; a created deal and lead fetch their person with x-api-token; a redelivery is replayed', async () => {
      const person = fixture('pipedrive/webhook-v2-person-create.json');
      const deal = fixture('pipedrive/webhook-v2-deal-create.json');
      const pdLead = fixture('pipedrive/webhook-v2-lead-create.json');
      const ids = [
        ...expectAccepted(await pipedrivePost('pipedrive-main', person), 1),
        ...expectAccepted(await pipedrivePost('pipedrive-main', deal), 1),
        ...expectAccepted(await pipedrivePost('pipedrive-main', pdLead), 1),
      ];
      for (const id of ids) expect(await waitForLead(id, ['delivered', 'failed'])).toMatchObject({ status: 'delivered', source: 'pipedrive-main' });

      const received = await receivedBy('pipedrive-main', ['101', '102', '102']);
      expectLead(byRef(received, '101'), {
        origin: 'Pipedrive CRM',
        ref: '101',
        first_name: 'Sofie',
        last_name: 'Claes',
        email: 'sofie.claes@example.com',
        telephonenr: '+32470000104',
        backref: /^https:\/\/acme-brokers\.pipedrive\.com\/person\/101$/,
      }, PLATFORM.pipedrive);
      // The deal's and the lead's prospect is their person (the primary e-mail of two).
      const fetchedPeople = received.filter((body) => body.prospect.external_ref.external_ref === '102');
      expect(fetchedPeople).toHaveLength(2);
      for (const body of fetchedPeople) {
        expectLead(body, {
          origin: 'Pipedrive CRM',
          ref: '102',
          first_name: 'Lucas',
          last_name: 'Maes',
          email: 'lucas.maes@example.com',
          telephonenr: '+32470000105',
          backref: /^https:\/\/acme-brokers\.pipedrive\.com\/person\/102$/,
        }, PLATFORM.pipedrive);
      }
      expect(pipedrive.requestsFor('101')).toEqual([]);
      const fetches = pipedrive.requestsFor('102');
      expect(fetches.map((request) => [request.path, request.status])).toEqual([
        ['/api/v2/persons/102', 200],
        ['/api/v2/persons/102', 200],
      ]);
      for (const request of fetches) expect(request.headers['x-api-token']).toBe(SECRETS.PIPEDRIVE_API_TOKEN);

      // Pipedrive's retry raises meta.attempt: the same lead.
      const retried = JSON.parse(person) as Json;
      retried.meta.attempt = 2;
      const again = await pipedrivePost('pipedrive-main', JSON.stringify(retried));
      expect({ status: again.status, accepted: again.body.accepted, replayed: again.body.replayed }).toEqual({ status: 200, accepted: 0, replayed: 1 });
      expect(again.body.leads).toEqual([expect.objectContaining({ id: ids[0], status: 'replayed' })]);
    });

    it('events that are not a created person, deal or lead are answered 200 and listed as ignored (a 4xx would get the webhook banned)', async () => {
      const changed = fixtureJson('pipedrive/webhook-v2-person-create.json') as Json;
      changed.meta = { ...changed.meta, action: 'change', id: randomUUID() };
      changed.previous = { first_name: 'Sofia' };
      const organization = fixtureJson('pipedrive/webhook-v2-person-create.json') as Json;
      organization.meta = { ...organization.meta, entity: 'organization', id: randomUUID() };
      organization.data = { id: 55, name: 'Claes NV' };
      const before = await storedJobs();
      for (const body of [changed, organization]) {
        const answer = await pipedrivePost('pipedrive-main', JSON.stringify(body));
        expect(answer.status).toBe(200);
        expect(answer.body).toMatchObject({ accepted: 0, replayed: 0, ignored: 1, leads: [] });
        expect(answer.body.ignored_events).toEqual([expect.objectContaining({ reason: expect.any(String) })]);
      }
      expect(await storedJobs()).toBe(before);
    });

    it('refuses wrong basic-auth credentials with 401, storing nothing', async () => {
      await expectRefused(() => pipedrivePost('pipedrive-main', fixture('pipedrive/webhook-v2-person-create.json'), 'wrong-password'), /Authorization/i, 'pipedrive-main');
      await expectRefused(() => hook('pipedrive-main', fixture('pipedrive/webhook-v2-person-create.json'), jsonHeaders), /Authorization/i, 'pipedrive-main');
    });
  });

  // --- Salesforce ---------------------------------------------------------------------------

  describe('Salesforce', () => {
    it('an Outbound Message with 2 notifications: 2 leads, and the SOAP Ack once stored; a redelivery acks again and adds nothing', async () => {
      const xml = fixture('salesforce/outbound-message-lead.xml');
      const answer = await salesforcePost(xml);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^text\/xml/);
      expect(answer.text).toMatch(/<notificationsResponse xmlns="http:\/\/soap\.sforce\.com\/2005\/09\/outbound"><Ack>true<\/Ack><\/notificationsResponse>/);
      expect(answer.text).toMatch(/^(<\?xml[^>]*\?>)?\s*<soapenv:Envelope/);

      const received = await receivedBy('salesforce-main', ['00Q5e00000AbCdEEAZ', '00Q5e00000AbCdFEAZ']);
      expectLead(byRef(received, '00Q5e00000AbCdEEAZ'), {
        origin: PLATFORM.salesforce,
        ref: '00Q5e00000AbCdEEAZ',
        first_name: 'Emma',
        last_name: 'Willems',
        email: 'emma.willems@example.com',
        telephonenr: '+32470000106',
        organisation: 'Willems Schrijnwerkerij',
        address: { street: 'Naamsestraat 40', zipcode: '3000', city: 'Leuven', country_code: 'BE' },
        backref: /^https:\/\/acme-brokers\.my\.salesforce\.com\/00Q5e00000AbCdEEAZ$/,
      }, PLATFORM.salesforce);
      expectLead(byRef(received, '00Q5e00000AbCdFEAZ'), {
        origin: PLATFORM.salesforce,
        ref: '00Q5e00000AbCdFEAZ',
        first_name: 'Noah',
        last_name: 'Jacobs',
        email: 'noah.jacobs@example.com',
        telephonenr: '+32470000107',
        organisation: 'Jacobs Elektro',
        backref: /^https:\/\/acme-brokers\.my\.salesforce\.com\/00Q5e00000AbCdFEAZ$/,
      }, PLATFORM.salesforce);

      // Salesforce redelivers until it reads the Ack, possibly out of order: same notification Ids, nothing new.
      const before = await storedJobs();
      const again = await salesforcePost(xml);
      expect(again.status).toBe(200);
      expect(again.text).toContain('<Ack>true</Ack>');
      expect(await storedJobs()).toBe(before);
      await stack.waitUntilDrained();
      expect((await control.requests(DIST['salesforce-main'])).filter((request) => request.status === 201)).toHaveLength(2);
    });

    it('refuses a message of another organization with 401, storing nothing', async () => {
      const xml = fixture('salesforce/outbound-message-lead.xml').replace(SALESFORCE_ORG, '00D0000000OTHERORG');
      await expectRefused(() => salesforcePost(xml), /OrganizationId/, 'salesforce-main');
    });
  });

  // --- Typeform -----------------------------------------------------------------------------

  describe('Typeform', () => {
    it('a form_response: answers mapped by field ref, the date answer as birth; a redelivery is replayed', async () => {
      const body = fixture('typeform/form-response.json');
      const [id] = expectAccepted(await typeformPost(body), 1);
      await waitForLead(id, ['delivered']);
      const [received] = await receivedBy('typeform-main', ['a3a12ec67a1365927098a606107fac15']);
      expectLead(received, {
        origin: PLATFORM.typeform,
        ref: 'a3a12ec67a1365927098a606107fac15',
        first_name: 'Lotte',
        last_name: 'Mertens',
        email: 'lotte.mertens@example.com',
        telephonenr: '+32470000108',
        birth: '1990-05-17',
      }, PLATFORM.typeform);

      const again = await typeformPost(body);
      expect({ status: again.status, accepted: again.body.accepted, replayed: again.body.replayed }).toEqual({ status: 200, accepted: 0, replayed: 1 });
      expect(again.body.leads).toEqual([expect.objectContaining({ id, status: 'replayed' })]);
    });

    it('refuses a wrong secret and a tampered body with 401, storing nothing', async () => {
      const body = fixture('typeform/form-response.json').replace('a3a12ec67a1365927098a606107fac15', 'b3a12ec67a1365927098a606107fac16');
      await expectRefused(() => typeformPost(body, 'not-the-secret'), /Typeform-Signature/i, 'typeform-main');
      const signature = typeformSignature(SECRETS.TYPEFORM_SECRET, body);
      await expectRefused(() => hook('typeform-main', body.replace('Lotte', 'Lotta'), { ...jsonHeaders, 'typeform-signature': signature }), /Typeform-Signature/i, 'typeform-main');
      await expectRefused(() => hook('typeform-main', body, jsonHeaders), /Typeform-Signature/i, 'typeform-main');
    });

    it('a payload that is not a form_response is a 400 naming the field; nothing stored', async () => {
      const before = await storedJobs();
      const answer = await typeformPost(JSON.stringify({ event_id: '01JGZ8Q4T7M3K2X9V5B6N8C0XX', event_type: 'form_response' }));
      expect(answer.status).toBe(400);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(JSON.stringify(answer.body.errors ?? answer.body.detail)).toMatch(/form_response/);
      expect(await storedJobs()).toBe(before);
    });
  });

  // --- Facebook Lead Ads --------------------------------------------------------------------

  describe('Facebook Lead Ads', () => {
    const verify = (token: string) =>
      hook('facebook-main', undefined, {}, `?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(token)}&hub.challenge=1158201444`, 'GET');

    it('answers the GET verification handshake with the challenge; a wrong verify token is a 403', async () => {
      const ok = await verify(SECRETS.FACEBOOK_VERIFY_TOKEN);
      expect({ status: ok.status, text: ok.text }).toEqual({ status: 200, text: '1158201444' });
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
      const wrong = await verify('not-the-verify-token');
      expect(wrong.status).toBe(403);
      expect(wrong.text).not.toContain(SECRETS.FACEBOOK_VERIFY_TOKEN);
      // Other types have no handshake: GET is the wrong method there.
      expect((await hook('typeform-main', undefined, {}, '', 'GET')).status).toBe(405);
    });

    it('a leadgen notification with 2 changes: 2 leads, each fetched from the Graph API with the page token', async () => {
      const answer = await facebookPost(fixture('facebook/leadgen-2-changes.json'));
      expectAccepted(answer, 2);
      expect((answer.body.leads as Json[]).map((lead) => lead.event_id).sort()).toEqual(['900000000000001', '900000000000002']);
      const received = await receivedBy('facebook-main', ['900000000000001', '900000000000002']);
      expectLead(byRef(received, '900000000000001'), {
        origin: PLATFORM.facebook,
        ref: '900000000000001',
        first_name: 'Tom',
        last_name: 'Goossens',
        email: 'tom.goossens@example.com',
        telephonenr: '+32470000109',
        organisation: 'Goossens Dakwerken',
        // The form asked only the postcode and city: passed on as they are, not dropped.
        address: { street: '', zipcode: '8000', city: 'Brugge' },
      }, PLATFORM.facebook);
      expectLead(byRef(received, '900000000000002'), {
        origin: PLATFORM.facebook,
        ref: '900000000000002',
        first_name: 'Anke',
        last_name: 'Wouters',
        email: 'anke.wouters@example.com',
        telephonenr: '+32470000110',
      }, PLATFORM.facebook);
      for (const leadgenId of ['900000000000001', '900000000000002']) {
        const fetched = graph.requestsFor(leadgenId);
        expect(fetched.map((request) => [request.path, request.status])).toEqual([[`/v23.0/${leadgenId}`, 200]]);
        const token = fetched[0].query.access_token ?? fetched[0].headers.authorization?.replace(/^Bearer /i, '');
        expect(token).toBe(SECRETS.FACEBOOK_PAGE_TOKEN);
      }
    });

    it('refuses a wrong app secret and a tampered body with 401, storing nothing', async () => {
      const body = facebookChange('900000000000077');
      await expectRefused(() => facebookPost(body, 'not-the-app-secret'), /X-Hub-Signature-256/i, 'facebook-main');
      const signature = facebookSignature(SECRETS.FACEBOOK_APP_SECRET, body);
      await expectRefused(() => hook('facebook-main', body.replace('900000000000077', '900000000000078'), { ...jsonHeaders, 'x-hub-signature-256': signature }), /X-Hub-Signature-256/i, 'facebook-main');
    });

    it('a change of another field than leadgen is answered 200 and listed as ignored (Meta disables webhooks that keep failing)', async () => {
      const body = JSON.stringify({ object: 'page', entry: [{ id: '153125381133', time: 1767261600, changes: [{ field: 'feed', value: { item: 'status', verb: 'add' } }] }] });
      const before = await storedJobs();
      const answer = await facebookPost(body);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ accepted: 0, ignored: 1, leads: [] });
      expect(await storedJobs()).toBe(before);
    });
  });

  // --- Zoho, Dynamics, JSON -----------------------------------------------------------------

  describe('Zoho CRM', () => {
    it('a workflow webhook as JSON with X-Source-Token, and as form fields with ?token=: one lead each', async () => {
      expectAccepted(await hook('zoho-main', fixture('zoho/workflow-webhook-lead.json'), { ...jsonHeaders, 'x-source-token': SECRETS.ZOHO_TOKEN }), 1);
      expectAccepted(
        await hook('zoho-main', fixture('zoho/workflow-webhook-lead.form'), { 'content-type': 'application/x-www-form-urlencoded' }, `?token=${encodeURIComponent(SECRETS.ZOHO_TOKEN)}`),
        1,
      );
      const received = await receivedBy('zoho-main', ['5725767000000412002', '5725767000000412001']);
      expectLead(byRef(received, '5725767000000412002'), {
        origin: PLATFORM.zoho,
        ref: '5725767000000412002',
        first_name: 'Bram',
        last_name: 'Vermeulen',
        email: 'bram.vermeulen@example.com',
        telephonenr: '+32470000111',
        organisation: 'Vermeulen Tuinen',
        address: { street: 'Markt 3', zipcode: '8500', city: 'Kortrijk', country_code: 'BE' },
      }, PLATFORM.zoho);
      expectLead(byRef(received, '5725767000000412001'), {
        origin: PLATFORM.zoho,
        ref: '5725767000000412001',
        first_name: 'Elise',
        last_name: 'Dubois',
        email: 'elise.dubois@example.com',
        telephonenr: '+32470000112',
        organisation: 'Dubois Fleurs',
        address: { street: 'Rue Haute 7', zipcode: '1000', city: 'Bruxelles', country_code: 'BE' },
      }, PLATFORM.zoho);
    });

    it('refuses a wrong or missing token with 401, storing nothing', async () => {
      const body = fixture('zoho/workflow-webhook-lead.json').replace('5725767000000412002', '5725767000000412099');
      await expectRefused(() => hook('zoho-main', body, { ...jsonHeaders, 'x-source-token': 'not-the-token' }), /X-Source-Token|token/, 'zoho-main');
      await expectRefused(() => hook('zoho-main', body, jsonHeaders, '?token=not-the-token'), /X-Source-Token|token/, 'zoho-main');
      await expectRefused(() => hook('zoho-main', body, jsonHeaders), /X-Source-Token|token/, 'zoho-main');
    });
  });

  describe('Dynamics 365', () => {
    it('a Dataverse RemoteExecutionContext of a lead Create: the Target attributes become the lead', async () => {
      expectAccepted(await hook('dynamics-main', fixture('dynamics/remote-execution-context-lead-create.json'), { ...jsonHeaders, 'x-source-token': SECRETS.DYNAMICS_TOKEN }), 1);
      const [received] = await receivedBy('dynamics-main', ['7d9e2f4a-1b3c-4d5e-8f6a-0b1c2d3e4f71']);
      expectLead(received, {
        origin: 'Dynamics',
        ref: '7d9e2f4a-1b3c-4d5e-8f6a-0b1c2d3e4f71',
        first_name: 'Ruben',
        last_name: 'Lambrechts',
        email: 'ruben.lambrechts@example.com',
        telephonenr: '+32470000113',
        organisation: 'Lambrechts Logistiek',
        address: { street: 'Grote Markt 1', zipcode: '2800', city: 'Mechelen', country_code: 'BE' },
      }, PLATFORM.dynamics);
    });

    it('a context without a Target is a 400 naming the field; a missing token is a 401', async () => {
      const context = fixtureJson('dynamics/remote-execution-context-lead-create.json') as Json;
      context.InputParameters = [];
      context.PrimaryEntityId = randomUUID();
      const before = await storedJobs();
      const answer = await hook('dynamics-main', JSON.stringify(context), { ...jsonHeaders, 'x-source-token': SECRETS.DYNAMICS_TOKEN });
      expect(answer.status).toBe(400);
      expect(JSON.stringify(answer.body.errors ?? answer.body.detail)).toMatch(/InputParameters|Target/);
      expect(await storedJobs()).toBe(before);
      await expectRefused(() => hook('dynamics-main', JSON.stringify(context), jsonHeaders), /X-Source-Token|token/, 'dynamics-main');
    });
  });

  describe('json (Standard Webhooks)', () => {
    it('without a custom mapping the hook is exactly POST /v1/leads: 202 + Location, and a redelivery of the signed message is a 200 replay', async () => {
      const posted = lead({ distribution_id: DIST['json-main'] });
      const body = JSON.stringify(posted);
      const signed = standardWebhookHeaders(SECRETS.JSON_WEBHOOK_SECRET, body);
      const headers = { ...jsonHeaders, 'x-api-key': SECRETS.JSON_API_KEY, ...signed };
      const first = await hook('json-main', body, headers);
      expect(first.status).toBe(202);
      expect(first.headers.get('location')).toBe(`/v1/leads/${first.body.id}`);
      const again = await hook('json-main', body, headers);
      expect(again.status).toBe(200);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body.id).toBe(first.body.id);
      const [received] = await receivedBy('json-main', [posted.prospect.external_ref.external_ref]);
      const { distribution_id: _routed, ...asPosted } = posted;
      // With PUBLIC_BASE_URL, WeGroup also gets our callback URL for the lead, after the CRM's own.
      const ours = callbackUrl(readDataKeyring({ DATA_ENCRYPTION_KEY: TEST_DATA_KEY }), PUBLIC_BASE_URL, first.body.id);
      expect(received).toEqual({ ...asPosted, prospect: { ...asPosted.prospect, callbacks: [...asPosted.prospect.callbacks, ours] } });

      await expectRefused(() => hook('json-main', body, { ...jsonHeaders, 'x-api-key': SECRETS.JSON_API_KEY }), /webhook-/i, 'json-main');
    });
  });

  it('an unknown source is a 404', async () => {
    const answer = await hook('nobody', '{}', jsonHeaders);
    expect(answer.status).toBe(404);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  // --- fetch by id: the platforms' failures -------------------------------------------------

  /** The fixture's notification with one change, for another leadgen id (the Graph fake serves it). */
  function facebookChange(leadgenId: string): string {
    const notification = fixtureJson('facebook/leadgen-2-changes.json') as Json;
    notification.entry[0].changes = [notification.entry[0].changes[0]];
    notification.entry[0].changes[0].value.leadgen_id = leadgenId;
    return JSON.stringify(notification);
  }

  describe('fetching records from the platforms', () => {
    it('the Graph API answers 503 twice, then the lead: retried on the schedule and delivered on the third attempt', async () => {
      const leadgenId = '900000000000003';
      graph.record(leadgenId, { ...fixtureJson('facebook/graph-lead-900000000000002.json'), id: leadgenId }).failNext(leadgenId, 503, 2);
      const [id] = expectAccepted(await facebookPost(facebookChange(leadgenId)), 1);
      const delivered = await waitForLead(id, ['delivered', 'failed']);
      expect(delivered).toMatchObject({ status: 'delivered', attempts: 3 });
      expect(graph.requestsFor(leadgenId).map((request) => request.status)).toEqual([503, 503, 200]);
      const received = await receivedBy('facebook-main', [leadgenId]);
      expect(byRef(received, leadgenId).prospect).toMatchObject({ first_name: 'Anke', last_name: 'Wouters' });
    });

    it('HubSpot answers 404 for the contact: the lead fails at once with a reason naming HubSpot and the 404', async () => {
      hubspot.failAlways('999', 404);
      const event = { ...(fixtureJson('hubspot/webhooks-v3-contact-creation.json') as Json[])[0], eventId: 1999, objectId: 999 };
      const [id] = expectAccepted(await hubspotSigned('hubspot-main', JSON.stringify([event])), 1);
      const failed = await waitForLead(id, ['delivered', 'failed']);
      expect(failed.status).toBe('failed');
      expect(failed.last_error).toMatch(/HubSpot/);
      expect(failed.last_error).toMatch(/404/);
      expect(failed.last_error).not.toContain(SECRETS.HUBSPOT_ACCESS_TOKEN);
      // A missing record is permanent: asked once, never retried, nothing sent to WeGroup.
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(hubspot.requestsFor('999')).toHaveLength(1);
      expect((await control.requests(DIST['hubspot-main'])).some((request) => request.body?.prospect?.external_ref?.external_ref === '999')).toBe(false);
    });

    it('Pipedrive refuses a revoked API token (401): the lead fails with a reason naming Pipedrive and the 401', async () => {
      const [id] = expectAccepted(await pipedrivePost('pipedrive-revoked', fixture('pipedrive/webhook-v2-deal-create.json')), 1);
      const failed = await waitForLead(id, ['delivered', 'failed']);
      expect(failed.status).toBe('failed');
      expect(failed.last_error).toMatch(/Pipedrive/);
      expect(failed.last_error).toMatch(/401/);
      expect(failed.last_error).not.toContain(SECRETS.PIPEDRIVE_WRONG_API_TOKEN);
      expect(pipedrive.requests.filter((request) => request.headers['x-api-token'] === SECRETS.PIPEDRIVE_WRONG_API_TOKEN).map((request) => request.status)).toEqual([401]);
      expect(await control.requests(DIST['pipedrive-revoked'])).toEqual([]);
    });
  });

  // --- mapping: failure, preview, fix, replay -----------------------------------------------

  describe('a mapping that breaks the lead rules', () => {
    it('fails the lead naming prospect.last_name; the preview shows the same problem; once the mapping is fixed, a retry delivers it', async () => {
      const body = fixture('hubspot/workflow-contact.json');
      const [id] = expectAccepted(await hook('hubspot-broken', body, { ...jsonHeaders, 'x-api-key': SECRETS.HUBSPOT_WORKFLOW_KEY }), 1);
      const failed = await waitForLead(id, ['delivered', 'failed']);
      expect(failed.status).toBe('failed');
      expect(failed.last_error).toMatch(/prospect\.last_name/);
      // A reason names fields, never the lead's data.
      for (const value of ['Jan', 'Janssens', 'jan.janssens@example.com', '+32470000101']) expect(failed.last_error).not.toContain(value);
      expect(await control.requests(DIST['hubspot-broken'])).toEqual([]);

      // The preview (ops) answers what the payload would produce, with the problem, and stores nothing.
      const before = await storedJobs();
      const preview = await asOps('/v1/sources/hubspot-broken/preview', { method: 'POST', headers: jsonHeaders, body });
      expect(preview.status).toBe(200);
      expect(JSON.stringify(await preview.json())).toMatch(/prospect\.last_name/);
      expect(await storedJobs()).toBe(before);

      // Fix the mapping and restart the worker: the mapping in force at delivery is the new one.
      writeFileSync(sourcesFile, sourcesYaml('$default'));
      await stack.stopWorker();
      await stack.startWorker();
      const retry = await asOps(`/v1/leads/${id}/retry`, { method: 'POST' });
      expect(retry.status).toBe(202);
      expect(await waitForLead(id, ['delivered', 'failed'])).toMatchObject({ status: 'delivered' });
      const [received] = await receivedBy('hubspot-broken', ['4101']);
      expect(received.prospect).toMatchObject({ first_name: 'Jan', last_name: 'Janssens', external_ref: { external_ref: '4101', external_ref_company: PLATFORM.hubspot } });
    });
  });

  describe('ops: preview and the list of sources', () => {
    it('a preview answers the leads a payload would produce and enqueues nothing; it needs the ops credentials', async () => {
      const body = fixture('typeform/form-response.json').replace('a3a12ec67a1365927098a606107fac15', 'preview-token-0000000000000000001');
      const unauthenticated = await fetch(`${stack.url}/v1/sources/typeform-main/preview`, { method: 'POST', headers: jsonHeaders, body });
      expect(unauthenticated.status).toBe(401);
      const before = await storedJobs();
      const preview = await asOps('/v1/sources/typeform-main/preview', { method: 'POST', headers: jsonHeaders, body });
      expect(preview.status).toBe(200);
      const answer = (await preview.json()) as Json;
      expect(answer.leads).toHaveLength(1);
      expect(JSON.stringify(answer.leads[0])).toContain('"first_name":"Lotte"');
      expect(JSON.stringify(answer.leads[0])).toContain('"external_ref":"preview-token-0000000000000000001"');
      expect(await storedJobs()).toBe(before);
      expect((await control.requests(DIST['typeform-main'])).filter((request) => request.body?.prospect?.external_ref?.external_ref === 'preview-token-0000000000000000001')).toEqual([]);
    });

    it('GET /v1/sources lists every source with its type and hook URL, never a secret', async () => {
      expect((await fetch(`${stack.url}/v1/sources`)).status).toBe(401);
      expect((await fetch(`${stack.url}/v1/sources`, { headers: { 'x-api-key': INTAKE_KEY } })).status).toBe(401);
      const response = await asOps('/v1/sources');
      expect(response.status).toBe(200);
      const text = await response.text();
      for (const [name, value] of Object.entries(SECRETS)) expect({ name, leaked: text.includes(value) }).toEqual({ name, leaked: false });
      expect(text).not.toContain(INTAKE_KEY);

      const listed = JSON.parse(text) as Json;
      const sources = (Array.isArray(listed) ? listed : listed.sources) as Json[];
      const types: Record<SourceName, string> = {
        'hubspot-main': 'hubspot',
        'hubspot-vin': 'hubspot',
        'hubspot-broken': 'hubspot',
        'pipedrive-main': 'pipedrive',
        'pipedrive-revoked': 'pipedrive',
        'salesforce-main': 'salesforce',
        'typeform-main': 'typeform',
        'facebook-main': 'facebook',
        'zoho-main': 'zoho',
        'dynamics-main': 'dynamics',
        'json-main': 'json',
      };
      for (const [name, type] of Object.entries(types)) {
        const entry = sources.find((source) => source.name === name);
        expect({ name, type: entry?.type }).toEqual({ name, type });
        expect(JSON.stringify(entry)).toContain(`"${hookUrl(name)}"`);
      }
      // INTAKE_API_KEYS's entries are json sources of the same registry.
      expect(sources.find((source) => source.name === 'test-crm')).toMatchObject({ type: 'json' });
      // Outcomes per source: hubspot-broken failed once (then was delivered after the fix).
      const broken = sources.find((source) => source.name === 'hubspot-broken');
      expect(numberNamed(broken, 'failed')).toBeGreaterThanOrEqual(1);
    });
  });
});

/** The first numeric property called `key`, however the entry nests its counters. */
function numberNamed(node: unknown, key: string): number | undefined {
  if (!node || typeof node !== 'object') return undefined;
  for (const [name, value] of Object.entries(node)) {
    if (name === key && typeof value === 'number') return value;
    const nested = numberNamed(value, key);
    if (nested !== undefined) return nested;
  }
  return undefined;
}
