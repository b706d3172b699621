import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Webhook } from 'standardwebhooks';
import { createSandboxApp } from '../apps/wegroup-sandbox/src/sandbox.app';
import { AppProcess, freePort, ProcessGroup } from './support/processes';
import { deleteKeys, REDIS_URL, uniqueQueuePrefix } from './support/redis-keys';
import { distributionId, lead, SandboxControl } from './support/stack';

/**
 * Logs and metrics, with the built apps (dist/, `npm run build`) as real processes whose
 * every output line is captured, and the WeGroup sandbox in this process with its log lines
 * captured too. A full scenario (deliveries, a transient failure, a 401 from "WeGroup",
 * refusals at the intake) runs with known credentials and a known prospect; then:
 * - no credential and no personal data appears in any log line of any of the three;
 * - the request id follows each lead: intake lines, worker lines, and the X-Request-ID
 *   WeGroup (the sandbox) received;
 * - `/metrics` (intake, ops credentials) and the worker's METRICS_PORT `/metrics` parse as
 *   Prometheus text and their counters moved by what the scenario did.
 */

type Json = Record<string, any>;

const HTTP_TIMEOUT_MS = 10_000;
const TEST_TIMEOUT_MS = 90_000;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const letters = (count: number) =>
  Array.from(randomBytes(count), (byte) => String.fromCharCode(97 + (byte % 26))).join('');

/** Everything that must never reach a log line; random per run so a hit cannot be a coincidence. */
const SECRETS = {
  intakeKey: `obs-intake-key-${hex(12)}`,
  signedSourceKey: `obs-signed-key-${hex(12)}`,
  webhookSecret: `whsec_${randomBytes(32).toString('base64')}`,
  wegroupToken: `obs-wegroup-token-${hex(12)}`,
  opsPassword: `obs-ops-password-${hex(8)}`,
  ssoClientSecret: `obs-sso-client-secret-${hex(12)}`,
  dataKey: randomBytes(32).toString('base64'),
  tokenKey: randomBytes(32).toString('base64'),
  queryToken: `obs-query-token-${hex(12)}`,
  wrongKey: `obs-wrong-key-${hex(12)}`,
};
const OPS_USER = 'ops';
const BASIC = Buffer.from(`${OPS_USER}:${SECRETS.opsPassword}`).toString('base64');
const PROSPECT = {
  first_name: `Marguerite${letters(8)}`,
  last_name: `Vandersteen${letters(8)}`,
  email: `m.${letters(10)}@example.org`,
  phone: `+32470${String(randomBytes(3).readUIntBE(0, 3)).padStart(8, '0')}`,
};

async function http(what: string, url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string; body: Json }> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  } catch (error) {
    throw new Error(`${what} got no answer within ${HTTP_TIMEOUT_MS} ms (${(error as Error).message})`);
  }
  const text = await response.text();
  let body: Json = {};
  try {
    body = text ? (JSON.parse(text) as Json) : {};
  } catch {
    body = {};
  }
  return { status: response.status, headers: response.headers, text, body };
}

// ---------------------------------------------------------------------------------------
// Prometheus text format 0.0.4, checked strictly (prom-client has no parser of its own).
// ---------------------------------------------------------------------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  types: Map<string, string>;
  samples: Sample[];
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_LINE = new RegExp(`^(${METRIC_NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(?:,|$)/;

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad sample value in: ${line}`);
  return Number(text);
}

function parseLabels(text: string | undefined, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text ?? '';
  while (rest.length > 0) {
    const match = LABEL.exec(rest);
    if (!match) throw new Error(`bad labels in: ${line}`);
    if (match[1] in labels) throw new Error(`repeated label ${match[1]} in: ${line}`);
    labels[match[1]] = match[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    rest = rest.slice(match[0].length);
  }
  return labels;
}

function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const match = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (match && ['histogram', 'summary'].includes(types.get(match[1]) ?? '')) return match[1];
  return undefined;
}

function parsePrometheus(text: string): Scrape {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // the format ignores empty lines (prom-client separates families with one)
    if (line.startsWith('#')) {
      const comment = new RegExp(`^# (HELP|TYPE) (${METRIC_NAME}) (.*)$`).exec(line);
      if (!comment) throw new Error(`unexpected comment line: ${line}`);
      const [, kind, name, rest] = comment;
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`unknown type in: ${line}`);
        if (types.has(name)) throw new Error(`second TYPE for ${name}`);
        if (samples.some((sample) => familyOf(sample.name, new Map([[name, rest]])) === name)) throw new Error(`TYPE after samples of ${name}`);
        types.set(name, rest);
      } else {
        if (helps.has(name)) throw new Error(`second HELP for ${name}`);
        helps.add(name);
      }
      continue;
    }
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const sample = { name: match[1], labels: parseLabels(match[2], line), value: parseValue(match[3], line) };
    const family = familyOf(sample.name, types);
    if (!family) throw new Error(`sample ${sample.name} has no TYPE before it`);
    if (types.get(family) === 'counter' && !(sample.value >= 0)) throw new Error(`negative counter: ${line}`);
    const identity = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seen.has(identity)) throw new Error(`duplicate sample: ${line}`);
    seen.add(identity);
    samples.push(sample);
  }
  checkHistograms({ types, samples });
  return { types, samples };
}

/** Buckets are cumulative, end with +Inf, and +Inf equals _count. */
function checkHistograms({ types, samples }: Scrape): void {
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const sample of samples.filter((s) => s.name === `${family}_bucket`)) {
      const { le, ...rest } = sample.labels;
      if (le === undefined) throw new Error(`${family}_bucket without le`);
      const key = JSON.stringify(Object.entries(rest).sort());
      series.set(key, [...(series.get(key) ?? []), sample]);
    }
    for (const [key, buckets] of series) {
      const bounds = buckets.map((bucket) => parseValue(bucket.labels.le, family));
      expect(bounds.at(-1)).toBe(Infinity);
      for (let i = 1; i < buckets.length; i++) {
        expect(bounds[i]).toBeGreaterThan(bounds[i - 1]);
        expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
      }
      const count = samples.find((s) => s.name === `${family}_count` && JSON.stringify(Object.entries(s.labels).sort()) === key);
      expect(count?.value).toBe(buckets.at(-1)!.value);
    }
  }
}

/** Sum of the samples of `name` whose labels include `labels` (0 when none). */
function total(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  return scrape.samples
    .filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}

// ---------------------------------------------------------------------------------------
// Log lines
// ---------------------------------------------------------------------------------------

/** Every line of a process's output, each of which must be a JSON log record. */
function jsonLines(label: string, output: string): Json[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        const record = JSON.parse(line) as Json;
        if (typeof record.level !== 'string' || typeof record.time !== 'string' || typeof record.msg !== 'string') throw new Error('not a log record');
        return record;
      } catch {
        throw new Error(`${label} wrote a line that is not a JSON log record: ${line.slice(0, 500)}`);
      }
    });
}

/** The secret strings found in a text (by name), for a readable failure. */
function leaks(text: string): string[] {
  const needles: Record<string, string> = {
    ...SECRETS,
    webhookSecretBody: SECRETS.webhookSecret.slice('whsec_'.length),
    basicAuth: BASIC,
    ...PROSPECT,
    firstNameLower: PROSPECT.first_name.toLowerCase(),
  };
  return Object.entries(needles)
    .filter(([, needle]) => text.includes(needle))
    .map(([name]) => name);
}

class LineCapture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

describe('logs and metrics: nothing secret in any log line, a request id that follows the lead, Prometheus metrics that move', () => {
  const queuePrefix = uniqueQueuePrefix('observability');
  const processes = new ProcessGroup();
  const did = distributionId();
  const sandboxLog = new LineCapture();
  let sandbox: NestFastifyApplication;
  let control: SandboxControl;
  let intake: AppProcess;
  let intakeUrl: string;
  let worker: AppProcess;
  let workerMetricsUrl: string;
  const signatures: string[] = [];

  const opsHeaders = { authorization: `Basic ${BASIC}` };
  const scrapeIntake = async () => {
    const response = await http('GET /metrics', `${intakeUrl}/metrics`, { headers: opsHeaders });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(response.text);
  };
  const scrapeWorker = async () => {
    const response = await http('GET worker /metrics', `${workerMetricsUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(response.text);
  };

  const post = (body: unknown, headers: Record<string, string> = {}, key = SECRETS.intakeKey) =>
    http('POST /v1/leads', `${intakeUrl}/v1/leads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  /** Standard Webhooks headers of the signing source for this body (a GET signs an empty one). */
  const signed = (body: string, at = new Date()) => {
    const id = `msg_${hex(8)}`;
    const signature = new Webhook(SECRETS.webhookSecret).sign(id, at, body);
    signatures.push(signature.slice('v1,'.length));
    return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature };
  };

  const waitForStatus = (id: string, statuses: string[], key = SECRETS.intakeKey) =>
    worker.until(
      `lead ${id} to be ${statuses.join('/')}`,
      async () => {
        const headers = { 'x-api-key': key, ...(key === SECRETS.signedSourceKey ? signed(`GET /v1/leads/${id}`) : {}) };
        const view = await http(`GET /v1/leads/${id}`, `${intakeUrl}/v1/leads/${id}`, { headers });
        return statuses.includes(view.body.status) ? view.body : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );

  const newLead = (tag: string) => {
    const ref = `${tag}-${hex(6)}`;
    return { ref, body: lead({}, { ...PROSPECT, external_ref: { external_ref: ref, external_ref_company: 'observability' } }) };
  };

  beforeAll(async () => {
    sandbox = await createSandboxApp({ logLevel: 'trace', logDestination: sandboxLog });
    await sandbox.listen(0, '127.0.0.1');
    const sandboxUrl = (await sandbox.getUrl()).replace('[::1]', '127.0.0.1');
    control = new SandboxControl(sandboxUrl);
    await control.token(SECRETS.wegroupToken, ['leads:write']);

    const [port, metricsPort] = [await freePort(), await freePort()];
    const shared = {
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      LOG_LEVEL: 'trace',
      WEGROUP_ENV: 'sandbox',
      WEGROUP_API_URL: sandboxUrl,
      WEGROUP_API_TOKEN: SECRETS.wegroupToken,
      WEGROUP_DISTRIBUTION_ID: did,
      DATA_ENCRYPTION_KEY: `obs:${SECRETS.dataKey}`,
      DELIVERY_RETRY_SCHEDULE: '0.2,0.2',
      // SSO configured (never used here), so its client secret is in the processes' environment.
      WEGROUP_SSO_CLIENT_ID: 'obs-client',
      WEGROUP_SSO_CLIENT_SECRET: SECRETS.ssoClientSecret,
      WEGROUP_SSO_ISSUER: 'http://127.0.0.1:9',
      WEGROUP_SSO_REDIRECT_URI: `http://127.0.0.1:${port}/v1/connections/sso/callback`,
      TOKEN_ENCRYPTION_KEY: SECRETS.tokenKey,
    };
    worker = processes.spawn('delivery-worker', { ...shared, METRICS_PORT: String(metricsPort) }, 'worker');
    workerMetricsUrl = `http://127.0.0.1:${metricsPort}`;
    ({ process: intake, url: intakeUrl } = await processes.startIntake(
      {
        ...shared,
        PORT: String(port),
        INTAKE_API_KEYS: `obs-crm:${SECRETS.intakeKey},signed-crm:${SECRETS.signedSourceKey}`,
        INTAKE_WEBHOOK_SECRETS: `signed-crm:${SECRETS.webhookSecret}`,
        OPS_USERNAME: OPS_USER,
        OPS_PASSWORD: SECRETS.opsPassword,
      },
      'intake',
    ));
    await worker.until('the worker to be ready on METRICS_PORT', async () => (await http('GET /health/ready', `${workerMetricsUrl}/health/ready`)).status === 200);
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await processes.killAll();
    await sandbox?.close();
    await deleteKeys(queuePrefix);
  });

  it(
    'runs the scenario: metrics move, request ids follow the leads, and no log line holds a secret or personal data',
    processes.explain(async () => {
      // /metrics is for ops only; the worker's port answers scrapes and probes.
      expect((await http('GET /metrics', `${intakeUrl}/metrics`)).status).toBe(401);
      const wrongOps = Buffer.from(`${OPS_USER}:not-the-password`).toString('base64');
      expect((await http('GET /metrics', `${intakeUrl}/metrics`, { headers: { authorization: `Basic ${wrongOps}` } })).status).toBe(401);
      const live = await http('GET /health/live', `${workerMetricsUrl}/health/live`);
      expect([live.status, live.body]).toEqual([200, { status: 'ok', info: {}, error: {}, details: {} }]);
      const ready = await http('GET /health/ready', `${workerMetricsUrl}/health/ready`);
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ status: 'ok', details: { redis: { status: 'up' }, worker: { status: 'up' } } });
      expect((await http('GET /nope', `${workerMetricsUrl}/nope`)).status).toBe(404);

      const intakeBefore = await scrapeIntake();
      const workerBefore = await scrapeWorker();

      // A: a caller's X-Request-ID; WeGroup fails once (its answer echoes the token and the prospect), then takes it.
      await control.fault({ status: 503, count: 1, distribution_id: did, body: { detail: `busy; ${SECRETS.wegroupToken} ${PROSPECT.first_name}` } });
      const a = newLead('a');
      const ridA = `crm-${hex(8)}:trace.1`;
      const postedA = await post(a.body, { 'x-request-id': ridA });
      expect(postedA.status).toBe(202);
      expect(postedA.headers.get('x-request-id')).toBe(ridA);
      await waitForStatus(postedA.body.id, ['delivered']);

      // B: no X-Request-ID (one is made); WeGroup answers 401, echoing the token and the e-mail.
      await control.fault({ status: 401, count: 1, distribution_id: did, body: { detail: `token ${SECRETS.wegroupToken} refused for ${PROSPECT.email}` } });
      const b = newLead('b');
      const postedB = await post(b.body);
      expect(postedB.status).toBe(202);
      const ridB = postedB.headers.get('x-request-id')!;
      expect(ridB).toMatch(/^[0-9a-f-]{36}$/);
      const failedB = await waitForStatus(postedB.body.id, ['failed']);
      expect(failedB.wegroup?.status_code ?? failedB.attempts_log?.at(-1)?.status_code).toBe(401);

      // C: a signed source, with an X-Request-ID we refuse to carry (too long): a new one is made.
      const c = newLead('c');
      const bodyC = JSON.stringify(c.body);
      const badRid = 'x'.repeat(129);
      const postedC = await post(bodyC, { ...signed(bodyC), 'x-request-id': badRid }, SECRETS.signedSourceKey);
      expect(postedC.status).toBe(202);
      const ridC = postedC.headers.get('x-request-id')!;
      expect(ridC).not.toBe(badRid);
      expect(ridC).toMatch(/^[0-9a-f-]{36}$/);
      await waitForStatus(postedC.body.id, ['delivered'], SECRETS.signedSourceKey);

      // Refusals: a wrong key, a wrong signature, an invalid body full of personal data, not JSON.
      expect((await post(newLead('x').body, {}, SECRETS.wrongKey)).status).toBe(401);
      const forged = `v1,${randomBytes(32).toString('base64')}`;
      signatures.push(forged.slice('v1,'.length));
      const unsigned = JSON.stringify(newLead('y').body);
      const forgedPost = await post(
        unsigned,
        { 'webhook-id': `msg_${hex(8)}`, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': forged },
        SECRETS.signedSourceKey,
      );
      expect(forgedPost.status).toBe(401);
      expect((await post({ origin: 'CRM', prospect: { first_name: PROSPECT.first_name, email: PROSPECT.email } })).status).toBe(400);
      expect((await post(`first_name=${PROSPECT.first_name}`, { 'content-type': 'text/plain' })).status).toBe(415);
      // Reads with credentials in the query string and in the Authorization header.
      const read = await http('GET lead', `${intakeUrl}/v1/leads/${postedA.body.id}?access_token=${SECRETS.queryToken}`, { headers: { 'x-api-key': SECRETS.intakeKey } });
      expect(read.status).toBe(200);
      expect((await http('GET /v1/ops/delivery', `${intakeUrl}/v1/ops/delivery`, { headers: opsHeaders })).status).toBe(200);

      // --- metrics: the counters moved by what happened --------------------------------
      const intakeAfter = await scrapeIntake();
      const workerAfter = await scrapeWorker();
      const delta = (before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);

      expect(intakeAfter.types.get('wegroup_leads_intake_accepted_total')).toBe('counter');
      expect(intakeAfter.types.get('wegroup_leads_intake_rejected_total')).toBe('counter');
      expect(delta(intakeBefore, intakeAfter, 'wegroup_leads_intake_accepted_total', { source: 'obs-crm', replayed: 'false' })).toBe(2);
      expect(delta(intakeBefore, intakeAfter, 'wegroup_leads_intake_accepted_total', { source: 'signed-crm', replayed: 'false' })).toBe(1);
      expect(delta(intakeBefore, intakeAfter, 'wegroup_leads_intake_rejected_total', { reason: 'auth' })).toBe(2);
      expect(delta(intakeBefore, intakeAfter, 'wegroup_leads_intake_rejected_total', { reason: 'auth', source: 'unknown' })).toBeGreaterThanOrEqual(1);
      expect(delta(intakeBefore, intakeAfter, 'wegroup_leads_intake_rejected_total', { reason: 'validation', source: 'obs-crm' })).toBe(1);
      expect(delta(intakeBefore, intakeAfter, 'wegroup_leads_intake_rejected_total', { reason: 'unsupported_media' })).toBe(1);
      for (const scrape of [intakeAfter, workerAfter]) {
        expect(scrape.types.get('wegroup_leads_queue_jobs')).toBe('gauge');
        expect(total(scrape, 'wegroup_leads_queue_jobs', { state: 'failed' })).toBe(1);
        expect(scrape.samples.filter((s) => s.name === 'wegroup_leads_queue_jobs').map((s) => s.labels.state).sort()).toEqual(['active', 'delayed', 'failed', 'waiting']);
        expect(total(scrape, 'wegroup_leads_circuit_breaker_state')).toBe(0);
        expect(scrape.types.get('wegroup_leads_circuit_breaker_consecutive_failures')).toBe('gauge');
        // Default process metrics.
        expect(scrape.types.get('process_cpu_user_seconds_total')).toBe('counter');
        expect(scrape.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
      }

      expect(workerAfter.types.get('wegroup_leads_deliveries_total')).toBe('counter');
      expect(delta(workerBefore, workerAfter, 'wegroup_leads_deliveries_total', { outcome: 'delivered', status_code: '201' })).toBe(2);
      expect(delta(workerBefore, workerAfter, 'wegroup_leads_deliveries_total', { outcome: 'transient', status_code: '503' })).toBe(1);
      expect(delta(workerBefore, workerAfter, 'wegroup_leads_deliveries_total', { outcome: 'permanent', status_code: '401' })).toBe(1);
      expect(workerAfter.types.get('wegroup_leads_wegroup_request_duration_seconds')).toBe('histogram');
      expect(delta(workerBefore, workerAfter, 'wegroup_leads_wegroup_request_duration_seconds_count')).toBe(4);
      expect(delta(workerBefore, workerAfter, 'wegroup_leads_wegroup_request_duration_seconds_count', { status_code: '503' })).toBe(1);
      expect(workerAfter.types.get('wegroup_leads_intake_to_delivered_seconds')).toBe('histogram');
      expect(delta(workerBefore, workerAfter, 'wegroup_leads_intake_to_delivered_seconds_count')).toBe(2);
      expect(delta(workerBefore, workerAfter, 'wegroup_leads_intake_to_delivered_seconds_sum')).toBeGreaterThan(0);
      expect(workerAfter.types.get('wegroup_leads_sso_token_refreshes_total')).toBe('counter');
      expect(workerAfter.types.get('wegroup_leads_circuit_breaker_opened_total')).toBe('counter');

      // --- what WeGroup received: the request id of each lead ----------------------------
      const received = await control.requests(did);
      const byRef = (ref: string) => received.filter((request) => request.body?.prospect?.external_ref?.external_ref === ref);
      expect(byRef(a.ref).map((request) => [request.status, request.headers['x-request-id']])).toEqual([
        [503, ridA],
        [201, ridA],
      ]);
      expect(byRef(b.ref).map((request) => [request.status, request.headers['x-request-id']])).toEqual([[401, ridB]]);
      expect(byRef(c.ref).map((request) => [request.status, request.headers['x-request-id']])).toEqual([[201, ridC]]);

      // --- the log lines ------------------------------------------------------------------
      // SIGTERM, so whatever the processes still buffer is written before they are read.
      for (const child of [intake, worker]) child.signal('SIGTERM');
      expect(await intake.waitForExit()).toEqual({ code: 0, signal: null });
      expect(await worker.waitForExit(30_000)).toEqual({ code: 0, signal: null });

      const logs = { intake: jsonLines('intake', intake.output), worker: jsonLines('worker', worker.output), sandbox: jsonLines('sandbox', sandboxLog.text) };
      for (const [app, output] of [
        ['intake', intake.output],
        ['worker', worker.output],
        ['sandbox', sandboxLog.text],
      ] as const) {
        expect({ app, leaked: leaks(output) }).toEqual({ app, leaked: [] });
        for (const signatureValue of signatures) expect(output).not.toContain(signatureValue);
      }
      expect(logs.intake.every((line) => line.service === 'intake-api')).toBe(true);
      expect(logs.worker.every((line) => line.service === 'delivery-worker')).toBe(true);
      // Trace level: Nest's start-up lines, request lines and ours all came through.
      expect(logs.intake.length).toBeGreaterThan(20);

      const leads = [
        { id: postedA.body.id as string, rid: ridA },
        { id: postedB.body.id as string, rid: ridB },
        { id: postedC.body.id as string, rid: ridC },
      ];
      for (const { id, rid } of leads) {
        // The intake: its "accepted" line, and the request line, carry the request id.
        const accepted = logs.intake.filter((line) => line.lead_id === id);
        expect(accepted.length).toBeGreaterThanOrEqual(1);
        expect(accepted.every((line) => line.request_id === rid)).toBe(true);
        expect(logs.intake.some((line) => line.request_id === rid && line.req?.method === 'POST' && line.res?.statusCode === 202)).toBe(true);
        // The worker: every line about the lead carries its request id, and there is one.
        const about = logs.worker.filter((line) => line.lead_id === id || String(line.msg).includes(id));
        expect(about.length).toBeGreaterThanOrEqual(1);
        expect(about.map((line) => [line.lead_id, line.request_id])).toEqual(about.map(() => [id, rid]));
        // The sandbox logged WeGroup's side of it under the same id.
        expect(logs.sandbox.some((line) => line.request_id === rid && line.req?.method === 'POST')).toBe(true);
      }
      expect(logs.worker.some((line) => line.lead_id === leads[1].id && line.level === 'warn' && /failed \(permanent, WeGroup status 401\)/.test(line.msg))).toBe(true);
      // Request lines keep headers, with credentials hidden, and never a body.
      const postLine = logs.intake.find((line) => line.request_id === ridA && line.req)!;
      expect(postLine.req.headers['x-api-key']).toBe('[REDACTED]');
      expect(Object.keys(postLine.req).sort()).toEqual(['headers', 'id', 'method', 'remoteAddress', 'url']);
      const signedLine = logs.intake.find((line) => line.request_id === ridC && line.req)!;
      expect(signedLine.req.headers['webhook-signature']).toBe('[REDACTED]');
      const opsLine = logs.intake.find((line) => line.req?.url === '/v1/ops/delivery')!;
      expect(opsLine.req.headers.authorization).toBe('[REDACTED]');
      const readLine = logs.intake.find((line) => line.req?.url?.startsWith(`/v1/leads/${postedA.body.id}?`))!;
      expect(readLine.req.url).toBe(`/v1/leads/${postedA.body.id}?access_token=[REDACTED]`);
      expect(logs.sandbox.find((line) => line.request_id === ridA && line.req)!.req.headers.authorization).toBe('[REDACTED]');
    }),
    TEST_TIMEOUT_MS,
  );
});
