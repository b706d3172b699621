import type { Page } from 'playwright-core';
import { BrowserSession, screenshot } from './support/browser';
import { CONSOLE_OPERATOR, CONSOLE_VIEWER, consoleUsersEnv } from './support/ops-console';
import { distributionId, lead, StackWithSandbox, startStackWithSandbox, stopStackWithSandbox } from './support/stack';

/**
 * The ops console in a real browser against the real pipeline (intake, worker, WeGroup's
 * sandbox), as the people on call use it: a viewer finds a lead by its external ref and reads
 * its timeline, without personal data and without the actions; an operator retries a failed
 * lead and sees it delivered, reveals a lead's personal data, bulk-retries a reason group
 * after its preview, erases a lead, and finds every step on the Audit page. Every page is
 * checked for CSP violations and photographed.
 */

/** A name only the leads of this test carry: it must never be on a page before "Show personal data". */
const PROSPECT = { first_name: 'Grietje', last_name: 'Consolevanderveld', email: 'grietje.console@example.com' };
const REFUSAL = { detail: 'prospect.birth_date is not a date' };

describe('ops console at /ops (browser)', () => {
  let started: StackWithSandbox;
  let browser: BrowserSession;
  let viewer: Page;
  let operator: Page;
  const violations: string[] = [];
  let deliveredId: string;
  let deliveredRef: string;
  let failedId: string;
  let failedRef: string;
  let groupIds: string[];

  /** Posts a lead; with `refuse`, WeGroup refuses it for good (422) and the worker fails it at once. */
  async function postLead(refuse: boolean): Promise<{ id: string; ref: string }> {
    const did = distributionId();
    if (refuse) await started.control.fault({ status: 422, count: 1, distribution_id: did, body: REFUSAL });
    const body = lead({ distribution_id: did }, PROSPECT);
    const response = await started.stack.postLead(body);
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    await started.stack.waitForStatus(id, [refuse ? 'failed' : 'delivered']);
    return { id, ref: body.prospect.external_ref.external_ref as string };
  }

  /** A page in its own browser context (its own cookies), with every CSP violation it meets recorded. */
  async function consolePage(): Promise<Page> {
    const page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    // Run by the browser before the page's own scripts (injected by the driver, not subject to the page's CSP).
    await page.addInitScript({
      content: "document.addEventListener('securitypolicyviolation', (event) => console.error('CSP violation: ' + event.violatedDirective + ' ' + event.blockedURI));",
    });
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy|CSP violation/i.test(message.text())) violations.push(`${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => violations.push(`${page.url()}: ${error.message}`));
    return page;
  }

  async function signIn(page: Page, user: { name: string; password: string }, shot?: string): Promise<void> {
    await page.goto(`${started.stack.url}/ops`);
    await page.waitForURL(/\/ops\/login$/);
    await page.getByLabel('Name').fill(user.name);
    await page.getByLabel('Password').fill(user.password);
    if (shot) await screenshot(page, shot);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(new RegExp(`${started.stack.url}/ops$`));
    await page.getByText(`${user.name} (`).waitFor();
  }

  /** Types the external ref into the Leads search (search-as-you-type) and opens the one row it finds. */
  async function openByExternalRef(page: Page, ref: string, id: string, shot?: string): Promise<void> {
    await page.getByRole('link', { name: 'Leads', exact: true }).click();
    await page.waitForURL(/\/ops\/leads/);
    await page.getByLabel('External ref').pressSequentially(ref, { delay: 5 });
    // htmx puts the search in the address once its answer is in.
    await page.waitForURL((url) => url.searchParams.get('external_ref') === ref);
    const row = page.locator('#lead-rows tr', { hasText: id });
    await row.waitFor();
    expect(await page.locator('#lead-rows tr').count()).toBe(1);
    if (shot) await screenshot(page, shot);
    await row.getByRole('link', { name: id }).click();
    await page.waitForURL(new RegExp(`/ops/leads/${id}$`));
  }

  beforeAll(async () => {
    browser = await BrowserSession.launch();
    started = await startStackWithSandbox('ops-console-ui', { OPS_USERS: await consoleUsersEnv() });
    ({ id: deliveredId, ref: deliveredRef } = await postLead(false));
    ({ id: failedId, ref: failedRef } = await postLead(true));
    groupIds = [(await postLead(true)).id, (await postLead(true)).id];
    viewer = await consolePage();
    operator = await consolePage();
  });

  afterAll(async () => {
    await browser?.close();
    await stopStackWithSandbox(started ?? {});
  });

  afterEach(() => {
    // Each step's pages ran with no CSP violation and no script error.
    expect(violations).toEqual([]);
  });

  it('signs a viewer in and shows the overview: counts, charts drawn by uPlot, delivery state', async () => {
    await signIn(viewer, CONSOLE_VIEWER, 'console-1-login');
    await viewer.getByRole('heading', { name: 'Leads per source' }).waitFor();
    await viewer.locator('figure[data-chart] canvas').first().waitFor();
    expect(await viewer.locator('figure[data-chart] canvas').count()).toBeGreaterThanOrEqual(2);
    expect(await viewer.locator('table.grid').innerText()).toContain('test-crm');
    await screenshot(viewer, 'console-2-overview');
  });

  it('lets the viewer find a lead by external ref and read its timeline, without personal data or actions', async () => {
    await openByExternalRef(viewer, failedRef, failedId, 'console-3-leads-search');
    const timeline = viewer.locator('ol.timeline');
    await timeline.getByText('Received from test-crm').waitFor();
    await timeline.getByText(/Attempt 1: permanent \(HTTP 422/).waitFor();
    const text = await viewer.locator('main').innerText();
    expect(text).not.toContain(PROSPECT.first_name);
    expect(text).not.toContain(PROSPECT.email);
    expect(await viewer.getByRole('button', { name: 'Retry' }).count()).toBe(0);
    expect(await viewer.getByRole('button', { name: 'Show personal data' }).count()).toBe(0);
    await viewer.getByText('Hidden: the operator role is needed to see personal data.').waitFor();
    await screenshot(viewer, 'console-4-lead-viewer', viewer.locator('main'));
  });

  it('refuses the viewer’s retry and personal data on the server too, with the page’s own CSRF token', async () => {
    const token = JSON.parse((await viewer.locator('body').getAttribute('hx-headers')) ?? '{}')['x-csrf-token'] as string;
    expect(token).toBeTruthy();
    // Posted from the page, as a script of the page would: same origin, the session's cookie and token.
    const answers = await viewer.evaluate(
      async ({ id, token }) => {
        const post = async (path: string) => (await fetch(path, { method: 'POST', headers: { 'x-csrf-token': token } })).status;
        return [await post(`/ops/leads/${id}/retry`), await post(`/ops/leads/${id}/personal-data`)];
      },
      { id: failedId, token },
    );
    expect(answers).toEqual([403, 403]);
  });

  it('signs an operator in, who retries the failed lead and sees it delivered', async () => {
    await signIn(operator, CONSOLE_OPERATOR);
    await openByExternalRef(operator, failedRef, failedId);
    await operator.getByRole('button', { name: 'Retry' }).click();
    await operator.getByText(`Lead ${failedId} re-queued with a fresh schedule.`).waitFor();
    await started.stack.waitForStatus(failedId, ['delivered']);
    await operator.reload();
    await operator.locator('.facts .status', { hasText: 'delivered' }).waitFor();
    await operator.locator('ol.timeline').getByText(`Replayed by ${CONSOLE_OPERATOR.name}`).waitFor();
    await screenshot(operator, 'console-5-lead-retried', operator.locator('main'));
  });

  it('shows the operator the personal data only after “Show personal data”', async () => {
    expect(await operator.locator('main').innerText()).not.toContain(PROSPECT.first_name);
    await operator.getByRole('button', { name: 'Show personal data' }).click();
    await operator.locator('pre.personal').getByText(PROSPECT.first_name).waitFor();
    // Shown in place: the address stays the lead's page, so a reload shows it hidden again and audits nothing.
    expect(new URL(operator.url()).pathname).not.toContain('/personal-data');
    await screenshot(operator, 'console-6-personal-data', operator.locator('main'));
  });

  it('bulk-retries a reason group after a preview of how many leads it re-queues', async () => {
    await operator.getByRole('link', { name: 'Failed leads' }).click();
    const group = operator.locator('tbody tr', { hasText: '422' }).first();
    await group.waitFor();
    expect(await group.locator('td').nth(1).innerText()).toBe(String(groupIds.length));
    // The page says what its counts are made of: the newest failed leads, not every one.
    await operator.getByText('counted over the 5,000 most recently received failed leads').waitFor();
    await screenshot(operator, 'console-7-failed-groups');
    await group.getByRole('button', { name: 'Retry group…' }).click();
    await operator.locator('[data-count]').waitFor();
    expect(await operator.locator('[data-count]').innerText()).toBe(String(groupIds.length));
    await screenshot(operator, 'console-8-bulk-preview');
    await operator.getByRole('button', { name: /^Re-queue/ }).click();
    await operator.getByText(`${groupIds.length} of ${groupIds.length} failed leads re-queued.`).waitFor();
    for (const id of groupIds) await started.stack.waitForStatus(id, ['delivered']);
  });

  it('erases a lead after a confirmation step', async () => {
    await operator.goto(`${started.stack.url}/ops/leads/${deliveredId}`);
    await operator.getByRole('link', { name: 'Erase…' }).click();
    await operator.getByRole('button', { name: 'Erase personal data' }).waitFor();
    await screenshot(operator, 'console-9-erase-confirm');
    await operator.getByRole('button', { name: 'Erase personal data' }).click();
    await operator.getByText(`Lead ${deliveredId}: personal data erased`).waitFor();
    await operator.getByRole('link', { name: 'Back to the lead' }).click();
    expect(await operator.locator('.facts').innerText()).toMatch(/Personal data erased\s+\d{4}-/);
    // Found by its external ref no more: erasure takes it out of the index.
    await operator.goto(`${started.stack.url}/ops/leads?external_ref=${encodeURIComponent(deliveredRef)}`);
    await operator.getByText('No lead matches.').waitFor();
  });

  it('lists each step on the Audit page', async () => {
    await operator.getByRole('link', { name: 'Audit' }).click();
    const rows = operator.locator('#audit-rows');
    await rows.locator('tr').first().waitFor();
    const text = await rows.innerText();
    for (const action of ['sign_in', 'lead_retried', 'personal_data_viewed', 'leads_bulk_retried', 'lead_erased']) expect(text).toContain(action);
    expect(text).toContain(CONSOLE_VIEWER.name);
    expect(text).toContain(CONSOLE_OPERATOR.name);
    expect(text).not.toContain(PROSPECT.first_name);
    await screenshot(operator, 'console-10-audit');
    // Filtered by lead id.
    await operator.getByLabel('Lead id').fill(failedId);
    await operator.getByRole('button', { name: 'Filter' }).click();
    await operator.waitForURL(/lead_id=/);
    const filtered = await rows.innerText();
    expect(filtered).toContain('lead_retried');
    expect(filtered).not.toContain('lead_erased');
  });

  it('shows the sources with their mapping preview, and the SSO connections', async () => {
    await operator.getByRole('link', { name: 'Sources' }).click();
    await operator.getByRole('heading', { name: 'Mapping preview' }).waitFor();
    await screenshot(operator, 'console-11-sources');
    await operator.getByRole('link', { name: 'Connections' }).click();
    await operator.getByRole('heading', { name: 'Connections' }).waitFor();
    await screenshot(operator, 'console-12-connections');
  });

  it('signs out: the next page asks to sign in again', async () => {
    await viewer.getByRole('button', { name: 'Sign out' }).click();
    await viewer.waitForURL(/\/ops\/login$/);
    await viewer.goto(`${started.stack.url}/ops/leads`);
    await viewer.waitForURL(/\/ops\/login$/);
  });
});
