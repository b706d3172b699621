import fastifyCookie from '@fastify/cookie';
import fastifyCsrfProtection from '@fastify/csrf-protection';
import { HttpException, HttpStatus, Logger } from '@nestjs/common';
import { Eta } from 'eta';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import path from 'node:path';
import { parse as parseQueryString } from 'node:querystring';
import { Keyring } from '@app/config';
import { FAILURE_GROUPS_SCAN, InvalidCursorError, LeadIndex, LeadRepository, LeadStats, LeadStatusDto, openLead, STATS_WINDOWS, StatsWindow, StatsWindowView } from '@app/leads';
import { ProblemException, REDIS_UNAVAILABLE_DETAIL, RedisUnavailableException } from '../../common/problem';
import { withRedisTimeout } from '../../common/redis-timeout';
import { SsoConnectionsService } from '../../connections/sso-connections.service';
import { LeadStatusService } from '../../leads/lead-status.service';
import { SourcesService } from '../../sources/sources.service';
import { LeadOpsService } from '../lead-ops.service';
import { auditAction, OpsAudit } from '../ops-audit';
import { requireOpsRole } from '../ops-auth.guard';
import { OpsAuthenticator } from '../ops-authenticator';
import { OPS_DASHBOARD_PATH } from '../ops-dashboard';
import { HIDDEN_FOR_VIEWER, OpsRequest, OpsUser } from '../ops-users';
import { ConsoleAsset, ConsoleAssetName, CONSOLE_ASSETS_PATH, consoleRoot, loadConsoleAssets } from './ops-console.assets';
import { auditQueryOf, badParameter, formField, LEAD_ID, leadSearchOf, SEARCH_STATUSES, textParameter } from './ops-console.queries';
import { OpsSession, OpsSessions } from './ops-sessions';

export const OPS_CONSOLE_PATH = '/ops';
export const OPS_LOGIN_PATH = '/ops/login';
export const SESSION_COOKIE = 'ops_session';
const LOGIN_CSRF_COOKIE = 'ops_login_csrf';

/**
 * The console's pages run our own files only: no inline script or style anywhere (htmx reads
 * its settings from a meta tag, the charts their data from an attribute), so neither
 * 'unsafe-inline' nor 'unsafe-eval' is needed. uPlot sizes its canvas through element.style,
 * which a CSP does not govern (CSSOM, not markup).
 */
export const OPS_CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ');

/** A year: asset URLs carry a digest of their content, so a new version is a new URL. */
const ASSET_CACHE = 'public, max-age=31536000, immutable';

/** Bulk retry of a reason group re-queues at most this many leads per confirmation, like POST /v1/ops/leads/retry's default. */
export const BULK_RETRY_LIMIT = 1000;
const FAILURE_GROUPS = 50;
/** How the replay log and the audit name this surface: `<user> (console)`. */
const CONSOLE_VIA = 'console';
/** What an operator reads where WeGroup's words are, until "Show personal data". */
const HIDDEN_UNTIL_SHOWN = '(hidden until “Show personal data”)';

export interface OpsConsoleDeps {
  authenticator: OpsAuthenticator;
  sessions: OpsSessions;
  /** Whether the cookies go over plain http too (ALLOW_HTTP_URLS=true, local development). */
  allowHttp: boolean;
  ops: LeadOpsService;
  statuses: LeadStatusService;
  leads: LeadRepository;
  keyring: Keyring;
  index: LeadIndex;
  stats: LeadStats;
  audit: OpsAudit;
  sources: SourcesService;
  connections: SsoConnectionsService;
}

interface ConsoleRequest extends OpsRequest {
  opsSession?: OpsSession & { id: string };
  /** Where @fastify/csrf-protection (its `@fastify/session` mode) reads the CSRF secret: the session's. */
  session?: { _csrf: string };
  query: Record<string, unknown>;
  params: Record<string, string>;
  body: unknown;
}

/**
 * The ops console: server-rendered pages (Eta, escaping every value) under /ops, enhanced
 * with htmx, for the person on call. Mounted as two Fastify scopes beside bull-board's:
 *
 * - the login scope (the login form, sign-in, the assets), whose form carries a CSRF token
 *   whose secret is a cookie of its own (there is no session yet);
 * - the signed-in scope (every other page): a session cookie names a session in Redis
 *   (OpsSessions), and every POST must carry a CSRF token made from that session's secret,
 *   in the form (`_csrf`) or, from htmx, the `x-csrf-token` header set on <body>.
 *
 * Roles are enforced here on every action (requireOpsRole), not only by hiding buttons, and the
 * actions run through the same services as the API (our replay rules, erasure, SSO).
 */
export async function mountOpsConsole(fastify: FastifyInstance, deps: OpsConsoleDeps): Promise<void> {
  const root = consoleRoot();
  const eta = new Eta({ views: path.join(root, 'apps', 'intake-api', 'views'), autoEscape: true, cache: true, autoTrim: false });
  const assets = loadConsoleAssets(root);
  const byUrl = new Map(Object.values(assets).map((asset) => [asset.url, asset]));
  const view = new ConsoleView(eta, assets);
  const logger = new Logger('OpsConsole');
  const secure = !deps.allowHttp;

  const common = async (scope: FastifyInstance) => {
    await scope.register(fastifyCookie);
    readForms(scope);
    scope.addHook('onRequest', (_request, reply, done) => {
      // Overrides the app-wide CSP (helmet's, which Swagger UI and bull-board need).
      void reply.header('Content-Security-Policy', OPS_CONSOLE_CSP).header('Cache-Control', 'no-store');
      done();
    });
    scope.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
      const { status, message } = describeError(error);
      if (status >= 500) logger.error(`Console ${request.method} ${request.routeOptions.url ?? '(no route)'} failed: ${error.message}`, error.stack);
      void reply.headers(error instanceof ProblemException ? error.headers : {});
      return view.problem(request as ConsoleRequest, reply, status, message);
    });
  };

  // The login form, sign-in and the files: no session needed.
  await fastify.register(async (scope) => {
    await common(scope);
    await scope.register(fastifyCsrfProtection, {
      sessionPlugin: '@fastify/cookie',
      cookieKey: LOGIN_CSRF_COOKIE,
      cookieOpts: { path: OPS_LOGIN_PATH, sameSite: 'strict', httpOnly: true, secure },
      getToken: formToken,
    });
    scope.get(`${CONSOLE_ASSETS_PATH}/:version/:name`, async (request, reply) => {
      const asset: ConsoleAsset | undefined = byUrl.get(request.url.split('?')[0]);
      if (!asset) throw new ProblemException(HttpStatus.NOT_FOUND, 'No such console file.');
      return reply.header('Content-Type', asset.type).header('Cache-Control', ASSET_CACHE).send(asset.body);
    });
    scope.get(OPS_LOGIN_PATH, async (request, reply) => view.login(request as ConsoleRequest, reply, reply.generateCsrf(), null, 200));
    scope.post(OPS_LOGIN_PATH, { preHandler: scope.csrfProtection }, async (request, reply) => {
      const name = formField(request.body, 'name', 64) ?? '';
      const password = formField(request.body, 'password', 1024) ?? '';
      const user = await deps.authenticator.signIn(name, password, request.ip);
      if (!user) {
        await auditAction(deps.audit, logger, { user: '', action: 'sign_in_failed' });
        return view.login(request as ConsoleRequest, reply, reply.generateCsrf(), 'The name or password is wrong.', 401);
      }
      // A new id at every sign-in: a cookie planted before it is worth nothing after.
      await deps.sessions.destroy(request.cookies[SESSION_COOKIE]);
      const id = await deps.sessions.create(user);
      await auditAction(deps.audit, logger, { user: user.name, action: 'sign_in' });
      void reply.setCookie(SESSION_COOKIE, id, { path: OPS_CONSOLE_PATH, httpOnly: true, sameSite: 'strict', secure });
      void reply.clearCookie(LOGIN_CSRF_COOKIE, { path: OPS_LOGIN_PATH });
      return reply.status(303).header('Location', OPS_CONSOLE_PATH).send();
    });
  });

  // Every other page: a session, and a CSRF token of that session on every POST.
  await fastify.register(async (scope) => {
    await common(scope);
    await scope.register(fastifyCsrfProtection, { sessionPlugin: '@fastify/session', sessionKey: '_csrf', getToken: formToken });
    scope.addHook('onRequest', async (raw, reply) => {
      const request = raw as ConsoleRequest;
      if (isDashboardPath(request)) return;
      const id = request.cookies[SESSION_COOKIE];
      const session = await deps.sessions.touch(id);
      if (!session) return signInFirst(request, reply);
      // The session names a user; the user as configured now decides (removed: signed out, role changed: the new role).
      const user = deps.authenticator.current(session.user.name);
      if (!user) {
        await deps.sessions.destroy(id);
        return signInFirst(request, reply);
      }
      request.opsSession = { ...session, user, id: id! };
      request.opsUser = user;
      request.session = { _csrf: session.csrfSecret };
    });
    scope.addHook('preHandler', (request, reply, done) => (request.method === 'POST' ? scope.csrfProtection(request, reply, done) : done()));
    scope.setNotFoundHandler((request, reply) => {
      // A path under the dashboard that none of its routes takes is the dashboard's 404 (a problem document), not a console page.
      if (isDashboardPath(request)) {
        return reply.status(404).header('Content-Type', 'application/problem+json').send({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'No such dashboard route.' });
      }
      return view.problem(request as ConsoleRequest, reply, 404, 'There is no such console page.');
    });
    registerPages(scope, deps, view, logger);
  }, { prefix: OPS_CONSOLE_PATH });
}

/**
 * The console's forms (application/x-www-form-urlencoded), parsed into an object without a
 * prototype (`__proto__` is a field like any other) with at most FORM_FIELDS fields. Added here:
 * this scope is made before Nest adds its parsers to the app, and the app's catch-all parser
 * answers any other type 415.
 */
function readForms(scope: FastifyInstance): void {
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, parseQueryString(body as string, '&', '=', { maxKeys: FORM_FIELDS }));
  });
}

const FORM_FIELDS = 20;

/** bull-board's paths (its own scope, basic auth): the console's 404 handler, whose prefix covers them, leaves them alone. */
function isDashboardPath(request: FastifyRequest): boolean {
  return request.url === OPS_DASHBOARD_PATH || request.url.startsWith(`${OPS_DASHBOARD_PATH}/`) || request.url.startsWith(`${OPS_DASHBOARD_PATH}?`);
}

/** The token of a form post (`_csrf`) or of an htmx request (the `x-csrf-token` header set on <body>). */
function formToken(request: FastifyRequest): string | void {
  const body = request.body as Record<string, unknown> | undefined;
  const field = body && typeof body === 'object' ? body._csrf : undefined;
  if (typeof field === 'string') return field;
  const header = request.headers['x-csrf-token'];
  return typeof header === 'string' ? header : undefined;
}

/** A page without a session: to the login form (303), or for htmx, which cannot follow that, a 401 telling it where. */
function signInFirst(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (request.headers['hx-request'] === 'true') return reply.status(401).header('HX-Redirect', OPS_LOGIN_PATH).send();
  return reply.status(303).header('Location', OPS_LOGIN_PATH).send();
}

function describeError(error: Error & { statusCode?: number; code?: string }): { status: number; message: string } {
  if (error.code === 'FST_CSRF_MISSING_SECRET' || error.code === 'FST_CSRF_INVALID_TOKEN') {
    return { status: 403, message: 'The form’s CSRF token is missing or wrong (the page may be older than your sign-in). Reload the page and try again.' };
  }
  // The intake's own words ("…the lead was not accepted") are about posting a lead, not a console page.
  if (error instanceof RedisUnavailableException && error.message === REDIS_UNAVAILABLE_DETAIL) {
    return { status: 503, message: 'Redis (where leads, sessions and the audit log are kept) did not answer in time. Retry shortly.' };
  }
  if (error instanceof HttpException) return { status: error.getStatus(), message: error.message };
  const status = error.statusCode ?? 500;
  // Fastify's own 4xx (a body too large, a bad content type) say what is wrong; a 500 says nothing of the inside.
  return status < 500 ? { status, message: error.message } : { status, message: 'The console failed to answer this request; it has been logged.' };
}

/** A section of a page read on its own: one that fails (Redis slow, counters missing) leaves the rest of the page. */
async function section<T>(logger: Logger, name: string, read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (error) {
    logger.warn(`Console: ${name} unavailable: ${(error as Error).message}`);
    return null;
  }
}

function registerPages(scope: FastifyInstance, deps: OpsConsoleDeps, view: ConsoleView, logger: Logger): void {
  type Handler = (request: ConsoleRequest, reply: FastifyReply) => Promise<FastifyReply> | FastifyReply;
  // The scope's prefix is /ops; the pages are named by their whole path here.
  const local = (url: string) => url.slice(OPS_CONSOLE_PATH.length) || '/';
  const get = (url: string, handler: Handler) => scope.get(local(url), (request, reply) => handler(request as ConsoleRequest, reply));
  const post = (url: string, handler: Handler) => scope.post(local(url), (request, reply) => handler(request as ConsoleRequest, reply));
  const userOf = (request: FastifyRequest) => (request as ConsoleRequest).opsUser!;
  const leadIdOf = (request: FastifyRequest) => {
    const id = (request as ConsoleRequest).params.id;
    if (!LEAD_ID.test(id)) throw new ProblemException(HttpStatus.NOT_FOUND, `No lead with id "${id.slice(0, 64)}".`);
    return id;
  };

  get(OPS_CONSOLE_PATH, async (request, reply) => {
    const window = (textParameter(request.query, 'window', 8) ?? '24h') as StatsWindow;
    if (!STATS_WINDOWS.includes(window)) throw badParameter('window', `must be one of ${STATS_WINDOWS.join(', ')}`);
    const [windows, state, oldest, connections] = await Promise.all([
      section(logger, 'counters', () => withRedisTimeout(Promise.all(STATS_WINDOWS.map((name) => deps.stats.window(name))))),
      section(logger, 'delivery state', () => deps.ops.deliveryState()),
      section(logger, 'oldest waiting lead', async () => ({ at: await withRedisTimeout(deps.index.oldestWaiting()) })),
      section(logger, 'SSO connections', () => deps.connections.list()),
    ]);
    const shown: StatsWindowView | undefined = windows?.find((entry) => entry.window === window);
    return view.page(request, reply, 'overview', {
      title: 'Overview',
      window,
      windows,
      chart: shown ? chartData(shown) : null,
      state,
      // null: not known right now; { ageMs: null }: nothing waits.
      oldest: oldest && { ageMs: oldest.at === null ? null : Date.now() - Date.parse(oldest.at) },
      reauth: connections?.filter((connection) => connection.status === 'needs_reauth') ?? null,
    });
  });

  get('/ops/leads', async (request, reply) => {
    const rowsOnly = wantsRows(request);
    let form = {};
    try {
      const parsed = leadSearchOf(request.query);
      form = parsed.form;
      const page = await withRedisTimeout(deps.index.search(parsed.search).catch(namingCursor));
      const nextUrl = page.next_cursor ? `/ops/leads?${new URLSearchParams({ ...definedOnly(parsed.form), cursor: page.next_cursor })}` : null;
      if (rowsOnly) return view.fragment(reply, 'leads-rows', { rows: page.rows, nextUrl });
      return view.page(request, reply, 'leads', { title: 'Leads', form, statuses: SEARCH_STATUSES, rows: page.rows, nextUrl, problem: null });
    } catch (error) {
      // A bad field is shown where the rows go, the form kept as typed.
      if (!(error instanceof ProblemException) || error.getStatus() !== 400) throw error;
      if (rowsOnly) return view.fragment(reply.status(400), 'leads-rows', { rows: [], nextUrl: null, problem: error.message });
      return view.page(request, reply.status(400), 'leads', { title: 'Leads', form, statuses: SEARCH_STATUSES, rows: [], nextUrl: null, problem: error.message });
    }
  });

  const leadPage = async (request: ConsoleRequest, reply: FastifyReply, personal: boolean) => {
    const id = leadIdOf(request);
    const lead = await deps.statuses.find(id, undefined, { personalData: personal });
    if (!lead) throw new ProblemException(HttpStatus.NOT_FOUND, `No lead with id "${id}".`);
    const row = await section(logger, 'index row', () => withRedisTimeout(deps.index.row(id)));
    let data: string | null = null;
    if (personal) {
      const stored = await withRedisTimeout(deps.leads.findData(id));
      const body = stored ? openLead(deps.keyring, stored) : null;
      data = body ? JSON.stringify(body, null, 2) : null;
    }
    // An operator sees WeGroup's words after "Show personal data"; until then, the note says so.
    const hidden = request.opsUser!.role === 'operator' && !personal ? HIDDEN_UNTIL_SHOWN : null;
    const note = <T>(text: T): T => (hidden && text === HIDDEN_FOR_VIEWER ? (hidden as T) : text);
    const shown = { ...lead, last_error: note(lead.last_error), wegroup: lead.wegroup && { ...lead.wegroup, body: note(lead.wegroup.body) } };
    const timeline = timelineOf(lead).map((entry) => ({ ...entry, detail: note(entry.detail) }));
    return view.page(request, reply, 'lead', { title: `Lead ${id}`, lead: shown, row, timeline, personal, data });
  };

  get('/ops/leads/:id', (request, reply) => leadPage(request, reply, false));

  post('/ops/leads/:id/personal-data', async (request, reply) => {
    requireOpsRole(userOf(request), 'operator');
    const id = leadIdOf(request);
    if (!(await withRedisTimeout(deps.leads.findData(id)))) throw new ProblemException(HttpStatus.NOT_FOUND, `No lead with id "${id}".`);
    // Fails closed: personal data that could not be written to the audit log is not shown (503).
    await withRedisTimeout(deps.audit.record({ user: userOf(request).name, action: 'personal_data_viewed', lead_id: id }));
    return leadPage(request, reply, true);
  });

  post('/ops/leads/:id/retry', async (request, reply) => {
    requireOpsRole(userOf(request), 'operator');
    const id = leadIdOf(request);
    await deps.ops.retry(id, userOf(request).name, CONSOLE_VIA);
    if (request.headers['hx-request'] === 'true') return view.fragment(reply, 'notice', { notice: `Lead ${id} re-queued with a fresh schedule.` });
    return reply.status(303).header('Location', `/ops/leads/${id}`).send();
  });

  get('/ops/leads/:id/erase', async (request, reply) => {
    requireOpsRole(userOf(request), 'operator');
    const id = leadIdOf(request);
    const lead = await deps.statuses.find(id, undefined, { personalData: false });
    if (!lead) throw new ProblemException(HttpStatus.NOT_FOUND, `No lead with id "${id}".`);
    return view.page(request, reply, 'erase', { title: `Erase lead ${id}`, lead, result: null });
  });

  post('/ops/leads/:id/erase', async (request, reply) => {
    requireOpsRole(userOf(request), 'operator');
    const id = leadIdOf(request);
    const result = await deps.ops.erase(id, userOf(request).name);
    return view.page(request, reply, 'erase', { title: `Lead ${id} erased`, lead: null, result });
  });

  get('/ops/failed', async (request, reply) => {
    const groups = await withRedisTimeout(deps.index.failureGroups(FAILURE_GROUPS));
    return view.page(request, reply, 'failed', { title: 'Failed leads', groups, limit: BULK_RETRY_LIMIT, scanned: FAILURE_GROUPS_SCAN });
  });

  post('/ops/failed/preview', async (request, reply) => {
    requireOpsRole(userOf(request), 'operator');
    const reason = formField(request.body, 'reason', 500)!;
    // The leads the group's retry would take: the same index read, so the preview is what the confirmation does.
    const count = (await withRedisTimeout(deps.index.failedWithReason(reason, BULK_RETRY_LIMIT))).length;
    return view.page(request, reply, 'failed-preview', { title: 'Retry failed leads', reason, count, limit: BULK_RETRY_LIMIT, result: null });
  });

  post('/ops/failed/retry', async (request, reply) => {
    requireOpsRole(userOf(request), 'operator');
    const reason = formField(request.body, 'reason', 500)!;
    const result = await deps.ops.retryFailureGroup(reason, BULK_RETRY_LIMIT, userOf(request).name);
    return view.page(request, reply, 'failed-preview', { title: 'Failed leads re-queued', reason, count: result.matched, limit: BULK_RETRY_LIMIT, result });
  });

  get('/ops/sources', async (request, reply) => {
    const { sources } = await deps.sources.list(`${request.protocol}://${request.host}`);
    return view.page(request, reply, 'sources', { title: 'Sources', sources, preview: null });
  });

  post('/ops/sources/preview', async (request, reply) => {
    requireOpsRole(userOf(request), 'operator');
    const name = formField(request.body, 'source', 64)!;
    const text = formField(request.body, 'payload', 64 * 1024)!;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ProblemException(HttpStatus.BAD_REQUEST, 'Form field "payload" is not valid JSON.', [{ field: 'payload', message: 'must be JSON' }]);
    }
    const preview = await deps.sources.preview(name, {
      method: 'POST',
      url: `/v1/hooks/${encodeURIComponent(name)}`,
      headers: { 'content-type': 'application/json' },
      query: {},
      body,
      rawBody: Buffer.from(text),
    }, userOf(request).name);
    const { sources } = await deps.sources.list(`${request.protocol}://${request.host}`);
    return view.page(request, reply, 'sources', { title: 'Sources', sources, preview: { source: name, result: JSON.stringify(preview, null, 2) } });
  });

  get('/ops/connections', async (request, reply) => {
    // Without SSO configured, the page says so (the service's 4xx names what is missing).
    let connections = null;
    let problem = null;
    try {
      connections = await deps.connections.list();
    } catch (error) {
      if (!(error instanceof ProblemException) || error.getStatus() >= 500) throw error;
      problem = error.message;
    }
    return view.page(request, reply, 'connections', { title: 'Connections', connections, problem });
  });

  // A link, not a form: WeGroup's sign-in is another origin, where form-action 'self' lets no form post go.
  get('/ops/connections/connect', async (request, reply) => {
    requireOpsRole(userOf(request), 'operator');
    const location = await deps.connections.start(userOf(request).name);
    return reply.status(303).header('Location', location).send();
  });

  post('/ops/connections/:connection/disconnect', async (request, reply) => {
    requireOpsRole(userOf(request), 'operator');
    const id = request.params.connection;
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(id)) throw new ProblemException(HttpStatus.NOT_FOUND, 'No such SSO connection.');
    await deps.connections.delete(id, userOf(request).name);
    return reply.status(303).header('Location', '/ops/connections').send();
  });

  get('/ops/audit', async (request, reply) => {
    const rowsOnly = wantsRows(request);
    const query = auditQueryOf(request.query);
    const page = await withRedisTimeout(deps.audit.list(query).catch(namingCursor));
    const nextUrl = page.next_cursor ? `/ops/audit?${new URLSearchParams({ ...(query.lead_id ? { lead_id: query.lead_id } : {}), cursor: page.next_cursor })}` : null;
    if (rowsOnly) return view.fragment(reply, 'audit-rows', { entries: page.entries, nextUrl });
    return view.page(request, reply, 'audit', { title: 'Audit', leadId: query.lead_id ?? '', entries: page.entries, nextUrl });
  });

  post('/ops/logout', async (request, reply) => {
    await deps.sessions.destroy(request.opsSession?.id);
    await auditAction(deps.audit, logger, { user: userOf(request).name, action: 'sign_out' });
    void reply.clearCookie(SESSION_COOKIE, { path: OPS_CONSOLE_PATH });
    return reply.status(303).header('Location', OPS_LOGIN_PATH).send();
  });
}

/** A cursor the index or the audit log did not give: the 400 naming it (withRedisTimeout passes problems through, as they are). */
function namingCursor(error: unknown): never {
  if (error instanceof InvalidCursorError) throw badParameter('cursor', 'is not one a previous page gave');
  throw error;
}

/** htmx asks for table rows (the search, "Older"), except when restoring history, which needs the page. */
function wantsRows(request: FastifyRequest): boolean {
  return request.headers['hx-request'] === 'true' && request.headers['hx-history-restore-request'] !== 'true';
}

function definedOnly(form: object): Record<string, string> {
  return Object.fromEntries(Object.entries(form).filter(([, value]) => value !== undefined)) as Record<string, string>;
}

/** uPlot's data for the Overview's two charts: [t, accepted, failed] and [t, p50, p95]. */
function chartData(view: StatsWindowView): { outcomes: unknown[]; latency: unknown[] } {
  const { t, accepted, failed, latency_p50_ms, latency_p95_ms } = view.series;
  return { outcomes: [t, accepted, failed], latency: [t, latency_p50_ms, latency_p95_ms] };
}

export interface TimelineEntry {
  at: string;
  kind: 'received' | 'attempt' | 'held' | 'replayed' | 'event' | 'callback' | 'erased';
  title: string;
  detail: string | null;
}

/** A lead's story in time order: received, each attempt, holds, replays, events to the source, WeGroup's callbacks, erasure. */
export function timelineOf(lead: LeadStatusDto): TimelineEntry[] {
  const entries: TimelineEntry[] = [{ at: lead.created_at, kind: 'received', title: `Received from ${lead.source}`, detail: null }];
  for (const entry of lead.attempts_log) {
    if (entry.kind === 'attempt') {
      const code = entry.status_code === null ? 'no answer' : `HTTP ${entry.status_code}`;
      entries.push({ at: entry.at, kind: 'attempt', title: `Attempt ${entry.attempt}: ${entry.outcome} (${code}, ${entry.duration_ms} ms)`, detail: entry.error });
    } else if (entry.kind === 'held') {
      entries.push({ at: entry.at, kind: 'held', title: `Held until ${entry.until}`, detail: entry.reason });
    } else {
      entries.push({ at: entry.at, kind: 'replayed', title: `Replayed by ${entry.by}`, detail: null });
    }
  }
  for (const event of lead.events) {
    const code = event.status_code === null ? '' : `, HTTP ${event.status_code}`;
    entries.push({ at: event.created_at, kind: 'event', title: `Event ${event.type} to the source: ${event.state} (${event.attempts} attempt${event.attempts === 1 ? '' : 's'}${code})`, detail: event.last_error });
  }
  for (const callback of lead.callbacks_received) {
    const body = callback.body === null ? null : typeof callback.body === 'string' ? callback.body : JSON.stringify(callback.body);
    entries.push({ at: callback.received_at, kind: 'callback', title: `WeGroup callback (${callback.content_type ?? 'no type'})`, detail: body });
  }
  if (lead.personal_data_erased_at) entries.push({ at: lead.personal_data_erased_at, kind: 'erased', title: 'Personal data erased', detail: null });
  return entries.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

/** Renders pages (in the layout, with nav, user and CSRF token), fragments for htmx, and problems. */
class ConsoleView {
  constructor(
    private readonly eta: Eta,
    private readonly assets: Record<ConsoleAssetName, ConsoleAsset>,
  ) {}

  page(request: ConsoleRequest, reply: FastifyReply, template: string, data: Record<string, unknown>): FastifyReply {
    const user: OpsUser = request.opsUser!;
    const html = this.eta.render(template, {
      ...data,
      assets: this.assets,
      user,
      operator: user.role === 'operator',
      csrf: reply.generateCsrf(),
      path: request.routeOptions.url,
      queuesPath: OPS_DASHBOARD_PATH,
    });
    return reply.header('Content-Type', 'text/html; charset=utf-8').send(html);
  }

  fragment(reply: FastifyReply, template: string, data: Record<string, unknown>): FastifyReply {
    return reply.header('Content-Type', 'text/html; charset=utf-8').send(this.eta.render(template, { problem: null, ...data }));
  }

  login(request: ConsoleRequest, reply: FastifyReply, csrf: string, problem: string | null, status: number): FastifyReply {
    return reply
      .status(status)
      .header('Content-Type', 'text/html; charset=utf-8')
      .send(this.eta.render('login', { assets: this.assets, csrf, problem, title: 'Sign in', user: null }));
  }

  /** An error as a page (signed in: with nav), or for htmx a fragment it swaps in. */
  problem(request: ConsoleRequest, reply: FastifyReply, status: number, message: string): FastifyReply {
    void reply.status(status);
    if (request.headers['hx-request'] === 'true') return this.fragment(reply, 'notice', { notice: null, problem: message });
    if (!request.opsUser || !request.session) {
      return reply.header('Content-Type', 'text/html; charset=utf-8').send(this.eta.render('problem', { assets: this.assets, title: `Error ${status}`, status, message, user: null }));
    }
    return this.page(request, reply, 'problem', { title: `Error ${status}`, status, message });
  }
}
