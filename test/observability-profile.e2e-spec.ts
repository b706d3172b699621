import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { interpolate, renderCompose } from './support/compose-env';
import type { INestApplicationContext } from '@nestjs/common';
import { createWorkerApp } from '../apps/delivery-worker/src/worker.app';
import { readWorkerAppConfig } from '../apps/delivery-worker/src/worker.config';
import { freePort, lead, OPS_AUTH, Stack, StartedSandbox, startSandbox, TEST_LOGGER } from './support/stack';

/**
 * The compose profile `observability`: Prometheus scraping the apps, Grafana provisioned with
 * the lead ingestion dashboard. Without Docker: the files are read as Prometheus, Grafana and
 * compose would read them, and every metric the dashboard queries is checked against what the
 * real intake and worker expose on /metrics.
 */

type Json = Record<string, any>;

const ROOT = path.join(__dirname, '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const DASHBOARD_FILE = 'deploy/grafana/dashboards/lead-ingestion.json';
const COMPOSE_TEXT = read('docker-compose.yml');
const COMPOSE = parseYaml(COMPOSE_TEXT, { merge: true }) as { services: Record<string, Json>; volumes: Record<string, unknown> };
const PROMETHEUS = parseYaml(read('deploy/prometheus/prometheus.yml')) as Json;
const DATASOURCES = parseYaml(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as Json;
const PROVIDERS = parseYaml(read('deploy/grafana/provisioning/dashboards/dashboards.yml')) as Json;
const DASHBOARD = JSON.parse(read(DASHBOARD_FILE)) as Json;
const OBSERVABILITY = ['prometheus', 'grafana'];

/** Series Prometheus adds to every target itself: no app exposes them. */
const PROMETHEUS_SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_series_added']);
const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects: what is left once strings, label matchers,
 * ranges, Grafana variables and grouping clauses are taken out, minus function names
 * (followed by a parenthesis), keywords and numbers.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/\boffset\s+-?\w+/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = [...bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(?!\s*\(|[A-Za-z0-9_:])/g)].map((m) => m[0]);
  return [...new Set(names.filter((name) => !PROMQL_KEYWORDS.has(name.toLowerCase())))];
}

/** Each selector `name{label…}` and the label names its matchers use. */
function selectorLabels(expr: string): Array<{ metric: string; labels: string[] }> {
  return [...expr.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}/g)].map(([, metric, matchers]) => ({
    metric,
    labels: [...matchers.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]),
  }));
}

/** Every PromQL expression of the dashboard: panel targets (rows included) and query variables. */
function expressions(dashboard: Json): Array<{ where: string; expr: string }> {
  const panels = (dashboard.panels as Json[]).flatMap((panel) => [panel, ...((panel.panels as Json[]) ?? [])]);
  const fromPanels = panels.flatMap((panel) => ((panel.targets as Json[]) ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: String(target.expr) })));
  const fromVariables = ((dashboard.templating?.list as Json[]) ?? [])
    .filter((variable) => variable.type === 'query')
    .map((variable) => {
      const query = typeof variable.query === 'string' ? variable.query : String(variable.query.query);
      // label_values(metric, label): the metric is the selector.
      return { where: `variable "${variable.name}"`, expr: query.replace(/^label_values\((.*),\s*\w+\)$/, '$1') };
    });
  return [...fromPanels, ...fromVariables];
}

/** Sample names and their labels in a Prometheus text exposition. */
function exposition(text: string): Map<string, Set<string>> {
  const metrics = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type && !metrics.has(type[1])) metrics.set(type[1], new Set());
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!sample) continue;
    const labels = metrics.get(sample[1]) ?? new Set<string>();
    for (const [, label] of (sample[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="/g)) labels.add(label);
    metrics.set(sample[1], labels);
  }
  return metrics;
}

describe('PromQL metric name extraction (the checker itself)', () => {
  it.each([
    ['sum by (source) (rate(wegroup_leads_intake_accepted_total{replayed="false",source=~"$source"}[$__rate_interval]))', ['wegroup_leads_intake_accepted_total']],
    ['histogram_quantile(0.95, sum by (le) (rate(a_bucket[5m])))', ['a_bucket']],
    ['count(x{state="waiting"}) or vector(0)', ['x']],
    ['max(y) / on(instance) group_left(job) z offset 5m', ['y', 'z']],
    ['sum(increase(c_total[$__range]))', ['c_total']],
    ['up{job=~"a|b"}', ['up']],
  ])('%s → %j', (expr, names) => {
    expect(metricNames(expr)).toEqual(names);
  });
});

describe('the observability profile in docker-compose.yml', () => {
  it('has prometheus and grafana under the profile only; no other service has a profile, so plain `up` starts neither', () => {
    for (const name of OBSERVABILITY) expect({ name, profiles: COMPOSE.services[name]?.profiles }).toEqual({ name, profiles: ['observability'] });
    for (const [name, service] of Object.entries(COMPOSE.services)) {
      if (!OBSERVABILITY.includes(name)) expect({ name, profiles: service.profiles }).toEqual({ name, profiles: undefined });
    }
    expect(Object.keys(COMPOSE.volumes)).toEqual(expect.arrayContaining(['prometheus-data', 'grafana-data']));
  });

  it('pins both images to a version, mounts deploy/ read-only, and publishes their UIs on this machine only', () => {
    for (const name of OBSERVABILITY) {
      const service = COMPOSE.services[name];
      expect({ name, image: service.image }).toEqual({ name, image: expect.stringMatching(/^[a-z/]+:v?\d+\.\d+\.\d+$/) });
      const binds = (service.volumes as string[]).filter((volume) => volume.startsWith('./'));
      expect(binds.length).toBeGreaterThan(0);
      for (const bind of binds) {
        expect({ name, bind }).toEqual({ name, bind: expect.stringMatching(/^\.\/deploy\/[^:]+:[^:]+:ro$/) });
        expect({ bind, exists: existsSync(path.join(ROOT, bind.split(':')[0])) }).toEqual({ bind, exists: true });
      }
      for (const port of service.ports as string[]) expect({ name, port }).toEqual({ name, port: expect.stringMatching(/^127\.0\.0\.1:/) });
    }
  });

  it('Grafana: no anonymous access, no sign-up, the admin password from GRAFANA_ADMIN_PASSWORD with a local-only default', () => {
    const grafana = renderCompose(COMPOSE_TEXT, {}).grafana.environment;
    expect(grafana).toMatchObject({ GF_AUTH_ANONYMOUS_ENABLED: 'false', GF_USERS_ALLOW_SIGN_UP: 'false', GF_SECURITY_ADMIN_PASSWORD: 'grafana-change-me' });
    expect(renderCompose(COMPOSE_TEXT, { GRAFANA_ADMIN_PASSWORD: 'mine-0123456789' }).grafana.environment.GF_SECURITY_ADMIN_PASSWORD).toBe('mine-0123456789');
    expect(read('README.md')).toContain('GRAFANA_ADMIN_PASSWORD');
  });

  it("Prometheus scrapes the intake with the intake's own ops credentials unless PROMETHEUS_OPS_* are set, from the files prometheus.yml reads", () => {
    const rendered = renderCompose(COMPOSE_TEXT, {});
    expect(rendered.prometheus.environment).toMatchObject({ OPS_USERNAME: rendered['intake-api'].environment.OPS_USERNAME, OPS_PASSWORD: rendered['intake-api'].environment.OPS_PASSWORD });
    const withOwn = renderCompose(COMPOSE_TEXT, { OPS_USERNAME: 'ops2', OPS_PASSWORD: 'own-password-123' });
    expect(withOwn.prometheus.environment).toMatchObject({ OPS_USERNAME: 'ops2', OPS_PASSWORD: 'own-password-123' });
    const script = (COMPOSE.services.prometheus.entrypoint as string[]).map((part) => interpolate(part, {})).join('\n');
    const intakeJob = (PROMETHEUS.scrape_configs as Json[]).find((job) => job.job_name === 'intake-api')!;
    for (const file of [intakeJob.basic_auth.username_file, intakeJob.basic_auth.password_file]) expect(script).toContain(`> ${file}`);
  });
});

describe('deploy/prometheus/prometheus.yml', () => {
  const services = renderCompose(COMPOSE_TEXT, {});
  const jobs = PROMETHEUS.scrape_configs as Json[];

  it('scrapes every replica of intake-api and delivery-worker by compose service name, on the port each listens on', () => {
    expect(jobs.map((job) => job.job_name).sort()).toEqual(['delivery-worker', 'intake-api']);
    const ports: Record<string, string> = {
      'intake-api': services['intake-api'].environment.PORT,
      'delivery-worker': services['delivery-worker'].environment.METRICS_PORT,
    };
    for (const job of jobs) {
      expect(job.metrics_path).toBe('/metrics');
      expect(job.dns_sd_configs).toEqual([{ names: [job.job_name], type: 'A', port: Number(ports[job.job_name]) }]);
      expect(COMPOSE.services[job.job_name]).toBeDefined();
      // The port is the one the service exposes on the network.
      const exposed = (COMPOSE.services[job.job_name].expose as string[]).map((port) => interpolate(port, {}));
      expect(exposed).toContain(ports[job.job_name]);
    }
    // The intake's /metrics takes ops credentials; the worker's port has none.
    expect(jobs.find((job) => job.job_name === 'intake-api')!.basic_auth).toEqual({ username_file: expect.any(String), password_file: expect.any(String) });
    expect(jobs.find((job) => job.job_name === 'delivery-worker')!.basic_auth).toBeUndefined();
  });

  it('Grafana reads this Prometheus: the provisioned datasource points at the prometheus service', () => {
    const [datasource] = DATASOURCES.datasources as Json[];
    expect(datasource).toMatchObject({ type: 'prometheus', uid: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    const listen = (COMPOSE.services.prometheus.ports as string[])[0].split(':').at(-1);
    expect(listen).toBe('9090');
    // The dashboards provider reads the folder compose mounts the dashboards into.
    const [provider] = PROVIDERS.providers as Json[];
    const mount = (COMPOSE.services.grafana.volumes as string[]).find((volume) => volume.startsWith('./deploy/grafana/dashboards:'))!;
    expect(mount.split(':')[1]).toBe(provider.options.path);
    expect(renderCompose(COMPOSE_TEXT, {}).grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(`${provider.options.path}/${path.basename(DASHBOARD_FILE)}`);
  });
});

describe(DASHBOARD_FILE, () => {
  it('is a Grafana dashboard for the provisioned datasource: schemaVersion >= 39, no ${DS_…} inputs, unique panel ids, a 24-column grid', () => {
    expect(DASHBOARD.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(DASHBOARD.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(JSON.stringify(DASHBOARD)).not.toMatch(/DS_PROMETHEUS|__inputs|\$\{DS_/);
    expect(DASHBOARD).not.toHaveProperty('__inputs');
    const uid = (DATASOURCES.datasources as Json[])[0].uid;
    const panels = DASHBOARD.panels as Json[];
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
    for (const panel of panels) {
      expect({ panel: panel.title, fits: panel.gridPos.x + panel.gridPos.w <= 24 }).toEqual({ panel: panel.title, fits: true });
      if (panel.type === 'row') continue;
      expect({ panel: panel.title, datasource: panel.datasource }).toEqual({ panel: panel.title, datasource: { type: 'prometheus', uid } });
      expect(panel.targets.length).toBeGreaterThan(0);
      for (const target of panel.targets as Json[]) expect(target.datasource).toEqual({ type: 'prometheus', uid });
    }
    for (const variable of DASHBOARD.templating.list as Json[]) expect(variable.datasource).toEqual({ type: 'prometheus', uid });
  });

  it('shows what ops need: lead posts, queue depth, delivery outcomes, WeGroup latency p50/p95, the circuit breaker, rate-limit pauses', () => {
    const all = expressions(DASHBOARD).map(({ expr }) => expr).join('\n');
    for (const needed of [
      /wegroup_leads_intake_accepted_total/,
      /wegroup_leads_intake_rejected_total/,
      /max by \(state\) \(wegroup_leads_queue_jobs\)/,
      /sum by \(outcome\) \(rate\(wegroup_leads_deliveries_total/,
      /histogram_quantile\(0\.5, sum by \(le\) \(rate\(wegroup_leads_wegroup_request_duration_seconds_bucket/,
      /histogram_quantile\(0\.95, sum by \(le\) \(rate\(wegroup_leads_wegroup_request_duration_seconds_bucket/,
      /wegroup_leads_circuit_breaker_state/,
      /wegroup_leads_circuit_breaker_opened_total/,
      /outcome="rate_limited"/,
    ]) {
      expect(all).toMatch(needed);
    }
  });

  describe('queries only metrics the apps expose', () => {
    let sandbox: StartedSandbox;
    let stack: Stack;
    let worker: INestApplicationContext | undefined;
    let workerMetricsPort: number;
    const exposed = new Map<string, Set<string>>();

    beforeAll(async () => {
      sandbox = await startSandbox();
      stack = await new Stack({ name: 'observability-profile', sandboxUrl: sandbox.url, worker: false }).start();
      // The worker as its main.ts starts it: with its metrics port.
      workerMetricsPort = await freePort();
      worker = await createWorkerApp(readWorkerAppConfig(stack.env), { logger: TEST_LOGGER, metricsPort: workerMetricsPort, metricsHost: '127.0.0.1' });
      // A delivered lead and a refused one, so the labelled series exist.
      const { id } = (await (await stack.postLead(lead())).json()) as { id: string };
      await stack.waitForStatus(id, ['delivered']);
      expect((await stack.postLead('{')).status).toBe(400);
    });
    afterAll(async () => {
      await worker?.close();
      await stack?.close();
      await sandbox?.close();
    });

    it("every metric name in every expression is one the real intake's or worker's /metrics exposes (or Prometheus's own `up`), with the labels it matches on", async () => {
      const intake = await fetch(`${stack.url}/metrics`, { headers: { authorization: OPS_AUTH } });
      const worker = await fetch(`http://127.0.0.1:${workerMetricsPort}/metrics`);
      expect([intake.status, worker.status]).toEqual([200, 200]);
      for (const text of [await intake.text(), await worker.text()]) {
        for (const [name, labels] of exposition(text)) exposed.set(name, new Set([...(exposed.get(name) ?? []), ...labels]));
      }
      expect(exposed.has('wegroup_leads_wegroup_request_duration_seconds_bucket')).toBe(true);

      const unknown: string[] = [];
      const wrongLabels: string[] = [];
      const used = new Set<string>();
      for (const { where, expr } of expressions(DASHBOARD)) {
        const names = metricNames(expr);
        expect({ where, expr, names: names.length > 0 }).toEqual({ where, expr, names: true });
        for (const name of names) {
          used.add(name);
          if (!exposed.has(name) && !PROMETHEUS_SYNTHETIC.has(name)) unknown.push(`${where}: ${name}`);
        }
        for (const { metric, labels } of selectorLabels(expr)) {
          if (PROMETHEUS_SYNTHETIC.has(metric)) continue;
          const known = exposed.get(metric);
          // Prometheus adds job and instance to every scraped series.
          for (const label of labels) if (known && !known.has(label) && !['job', 'instance'].includes(label)) wrongLabels.push(`${where}: ${metric}{${label}}`);
        }
      }
      expect(unknown).toEqual([]);
      expect(wrongLabels).toEqual([]);
      // The jobs the dashboard filters on are the jobs prometheus.yml defines.
      const jobs = new Set((PROMETHEUS.scrape_configs as Json[]).map((job) => job.job_name));
      for (const { expr } of expressions(DASHBOARD)) {
        for (const [, alternatives] of expr.matchAll(/job=~?"([^"]+)"/g)) for (const job of alternatives.split('|')) expect(jobs).toContain(job);
      }
      expect(used.size).toBeGreaterThanOrEqual(12);
    });
  });
});
